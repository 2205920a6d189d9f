#l = #chain.layout<[1, 1]>

func.func @mask_not_constant(%x: tensor<?x4xf32, #l>, %m: tensor<4x4xf32>) -> tensor<?x4xf32, #l> {
  %w = chain.param "w" : tensor<4x4xf32>
  %wm = chain.mul %w, %m : tensor<4x4xf32>
  %y = chain.dense %x, %wm : tensor<?x4xf32, #l>, tensor<4x4xf32> -> tensor<?x4xf32, #l>
  return %y : tensor<?x4xf32, #l>
}
