#l = #chain.layout<[1, 1]>

func.func @unknown_op_two_results_chain1(%x: tensor<?x8xf32, #l>) -> tensor<?x4xf32, #chain.layout<[1]>> {
  %x1 = chain.prefix %x chains 1 : tensor<?x8xf32, #l> -> tensor<?x4xf32, #chain.layout<[1]>>
  %a:2 = "test.mix2"(%x1) : (tensor<?x4xf32, #chain.layout<[1]>>) -> (tensor<?x4xf32, #chain.layout<[1]>>, tensor<?x4xf32>)
  %y = chain.add %a#0, %a#0 : tensor<?x4xf32, #chain.layout<[1]>>
  return %y : tensor<?x4xf32, #chain.layout<[1]>>
}
