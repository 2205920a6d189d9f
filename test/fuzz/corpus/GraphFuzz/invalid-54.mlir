func.func @prefix_too_many_chains(%x: tensor<?x8xf32, #chain.layout<[1, 1]>>) {
  %y = chain.prefix %x chains 3 : tensor<?x8xf32, #chain.layout<[1, 1]>> -> tensor<?x8xf32, #chain.layout<[1, 1]>>
  return
}
