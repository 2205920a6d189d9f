#l = #chain.layout<[1, 1]>

func.func private @mix(tensor<?x8xf32, #l>) -> (tensor<?x8xf32, #l>, tensor<?x8xf32, #l>)
func.func @unknown_op_two_results_prefix(%x: tensor<?x8xf32, #l>) -> tensor<?x4xf32, #chain.layout<[1]>> {
  %a:2 = "test.mix2"(%x) : (tensor<?x8xf32, #l>) -> (tensor<?x8xf32, #l>, tensor<?x8xf32, #l>)
  %y = chain.prefix %a#0 chains 1 : tensor<?x8xf32, #l> -> tensor<?x4xf32, #chain.layout<[1]>>
  return %y : tensor<?x4xf32, #chain.layout<[1]>>
}
