#l = #chain.layout<[1, 1]>

func.func @chained_constant(%x: tensor<?x4xf32, #l>) -> tensor<?x4xf32, #l> {
  %g = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32, #l>
  %y = chain.norm %x, %g : tensor<?x4xf32, #l>, tensor<4xf32, #l>
  return %y : tensor<?x4xf32, #l>
}
