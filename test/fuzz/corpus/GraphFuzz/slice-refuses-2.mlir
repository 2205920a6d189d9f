#l = #chain.layout<[1, 1]>

func.func @unchained_from_chain_1(%x: tensor<?x8xf32, #l>) -> tensor<?x2xf32> {
  %w = chain.param "w" : tensor<2x8xf32>
  %m = arith.constant dense<[[1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0],
                             [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]]> : tensor<2x8xf32>
  %wm = chain.mul %w, %m : tensor<2x8xf32>
  %y = chain.dense %x, %wm : tensor<?x8xf32, #l>, tensor<2x8xf32> -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}
