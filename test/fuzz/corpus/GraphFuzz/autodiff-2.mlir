func.func @forward(%x: tensor<?x8xf32, #chain.layout<[1, 1]>>) -> tensor<?x10xf32> {
  %m = chain.mul %x, %x : tensor<?x8xf32, #chain.layout<[1, 1]>>
  %w = chain.param "lm_head.weight" : tensor<10x8xf32, #chain.layout<[1, 1]>>
  %logits = chain.lm_head %m, %w : tensor<?x8xf32, #chain.layout<[1, 1]>>, tensor<10x8xf32, #chain.layout<[1, 1]>> -> tensor<?x10xf32>
  return %logits : tensor<?x10xf32>
}
