#l = #chain.layout<[1, 1]>

func.func @first_violation_reported(%x: tensor<?x8xf32, #l>, %g: tensor<8xf32, #l>) -> tensor<?x8xf32, #l> {
  %n = chain.norm %x, %g stats(#chain.layout<[1]>) : tensor<?x8xf32, #l>, tensor<8xf32, #l>
  %y = chain.add %x, %n : tensor<?x8xf32, #l>
  return %y : tensor<?x8xf32, #l>
}
