func.func @rope_theta(%x: tensor<?x16xf32, #chain.layout<[1, 1]>>) {
  %y = chain.rope %x {head_dim = 8, theta = 0.0 : f64} : tensor<?x16xf32, #chain.layout<[1, 1]>>
  return
}
