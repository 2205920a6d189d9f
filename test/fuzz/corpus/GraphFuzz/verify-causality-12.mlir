#l = #chain.layout<[1, 1]>

func.func @rope_head_straddles(%q: tensor<?x16xf32, #l>) -> tensor<?x16xf32, #l> {
  %y = chain.rope %q {head_dim = 16} : tensor<?x16xf32, #l>
  return %y : tensor<?x16xf32, #l>
}
