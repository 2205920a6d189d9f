#l = #chain.layout<[1, 1]>

func.func @norm_stats_span_chains(%x: tensor<?x16xf32, #l>, %g: tensor<16xf32, #l>) -> tensor<?x16xf32, #l> {
  %y = chain.norm %x, %g stats(#chain.layout<[1]>) : tensor<?x16xf32, #l>, tensor<16xf32, #l>
  return %y : tensor<?x16xf32, #l>
}
