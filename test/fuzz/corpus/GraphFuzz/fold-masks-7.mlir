#l = #chain.layout<[1, 1]>

func.func @masked_then_lowered(%x: tensor<?x2xf32, #l>) -> tensor<?x2xf32, #l> {
  %w = chain.param "w" : tensor<2x2xf32>
  %m = arith.constant dense<[[1.0, 0.0], [1.0, 1.0]]> : tensor<2x2xf32>
  %wm = chain.mul %w, %m : tensor<2x2xf32>
  %y = chain.dense %x, %wm : tensor<?x2xf32, #l>, tensor<2x2xf32> -> tensor<?x2xf32, #l>
  return %y : tensor<?x2xf32, #l>
}
