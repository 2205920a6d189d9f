#l = #chain.layout<[1, 1]>
#l1 = #chain.layout<[1]>

func.func @unknown_op_with_chains(%x: tensor<?x8xf32, #l>) -> tensor<?x8xf32, #l> {
  %x1 = chain.prefix %x chains 1 : tensor<?x8xf32, #l> -> tensor<?x4xf32, #l1>
  %y = "test.widen"(%x1) : (tensor<?x4xf32, #l1>) -> tensor<?x8xf32, #l>
  return %y : tensor<?x8xf32, #l>
}
