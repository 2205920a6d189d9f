#l = #chain.layout<[1, 1, 2]>

func.func @mask_upper_block_3(%x: tensor<?x4xf32, #l>) -> tensor<?x4xf32, #l> {
  %w = chain.param "w" : tensor<4x4xf32>
  %m = arith.constant dense<[[1.0, 0.0, 0.0, 0.0],
                             [1.0, 1.0, 1.0, 0.0],
                             [1.0, 1.0, 1.0, 1.0],
                             [1.0, 1.0, 1.0, 1.0]]> : tensor<4x4xf32>
  %wm = chain.mul %w, %m : tensor<4x4xf32>
  %y = chain.dense %x, %wm : tensor<?x4xf32, #l>, tensor<4x4xf32> -> tensor<?x4xf32, #l>
  return %y : tensor<?x4xf32, #l>
}
