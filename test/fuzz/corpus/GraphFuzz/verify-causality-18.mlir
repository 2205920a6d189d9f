#l = #chain.layout<[1, 1]>

func.func private @mix(tensor<?x8xf32, #l>) -> (tensor<?x8xf32, #l>, tensor<?x8xf32, #l>)
func.func @unknown_op_two_results(%x: tensor<?x8xf32, #l>) -> tensor<?x8xf32, #l> {
  %a:2 = func.call @mix(%x) : (tensor<?x8xf32, #l>) -> (tensor<?x8xf32, #l>, tensor<?x8xf32, #l>)
  %y = chain.add %a#0, %x : tensor<?x8xf32, #l>
  return %y : tensor<?x8xf32, #l>
}
