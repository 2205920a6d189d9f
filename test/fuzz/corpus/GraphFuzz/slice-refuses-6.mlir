#l = #chain.layout<[1, 1]>

func.func @unknown_op_mixing(%x: tensor<?x8xf32, #l>) -> tensor<?x8xf32, #l> {
  %y = "test.mix"(%x) : (tensor<?x8xf32, #l>) -> tensor<?x8xf32, #l>
  return %y : tensor<?x8xf32, #l>
}
