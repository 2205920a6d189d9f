func.func @norm_gain_size(%x: tensor<?x8xf32, #chain.layout<[1, 1]>>, %g: tensor<4xf32, #chain.layout<[1, 1]>>) {
  %y = chain.norm %x, %g : tensor<?x8xf32, #chain.layout<[1, 1]>>, tensor<4xf32, #chain.layout<[1, 1]>>
  return
}
