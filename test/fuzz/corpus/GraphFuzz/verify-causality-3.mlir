#l = #chain.layout<[1, 1]>

func.func @fine_stats(%x: tensor<?x8xf32, #l>, %g: tensor<8xf32, #l>) -> tensor<?x8xf32, #l> {
  %y = chain.norm %x, %g stats(#chain.layout<[1, 1, 1, 1]>) : tensor<?x8xf32, #l>, tensor<8xf32, #l>
  return %y : tensor<?x8xf32, #l>
}
