#l = #chain.layout<[1, 1]>

func.func @mask_on_the_left(%x: tensor<?x2xf32, #l>) -> tensor<?x4xf32, #l> {
  %w = chain.param "w" : tensor<4x2xf32>
  %m = arith.constant dense<[[1.0, 0.0], [1.0, 0.0], [1.0, 1.0], [1.0, 1.0]]> : tensor<4x2xf32>
  %wm = chain.mul %m, %w : tensor<4x2xf32>
  %y = chain.dense %x, %wm : tensor<?x2xf32, #l>, tensor<4x2xf32> -> tensor<?x4xf32, #l>
  return %y : tensor<?x4xf32, #l>
}
