#l = #chain.layout<[1, 1]>
#l1 = #chain.layout<[1]>
func.func @forward(%t: tensor<?xi32>) -> tensor<?x10xf32> {
  %e = chain.param "w" : tensor<10x8xf32, #l>
  %x = chain.embed %e[%t] : tensor<10x8xf32, #l>, tensor<?xi32> -> tensor<?x8xf32, #l>
  %x1 = chain.prefix %x chains 1 : tensor<?x8xf32, #l> -> tensor<?x4xf32, #l1>
  %w = chain.param "w" : tensor<10x4xf32, #l1>
  %logits = chain.lm_head %x1, %w : tensor<?x4xf32, #l1>, tensor<10x4xf32, #l1> -> tensor<?x10xf32>
  return %logits : tensor<?x10xf32>
}
