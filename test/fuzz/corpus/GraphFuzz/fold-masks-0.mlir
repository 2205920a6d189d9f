#l = #chain.layout<[1, 1, 2]>

func.func @masked_dense(%x: tensor<?x4xf32, #l>) -> tensor<?x4xf32, #l> {
  %w = chain.param "model.layers.0.mlp.up_proj.weight" : tensor<4x4xf32>
  %m = arith.constant dense<[[1.0, 0.0, 0.0, 0.0],
                             [1.0, 1.0, 0.0, 0.0],
                             [1.0, 1.0, 1.0, 1.0],
                             [1.0, 1.0, 1.0, 1.0]]> : tensor<4x4xf32>
  %wm = chain.mul %w, %m : tensor<4x4xf32>
  %y = chain.dense %x, %wm : tensor<?x4xf32, #l>, tensor<4x4xf32> -> tensor<?x4xf32, #l>
  return %y : tensor<?x4xf32, #l>
}
