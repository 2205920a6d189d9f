#l = #chain.layout<[1, 1]>
func.func @forward(%x: tensor<?x8xf32, #l>) -> tensor<?x10xf32> {
  "test.br"()[^bb1] : () -> ()
^bb1:
  %w = chain.param "lm_head.weight" : tensor<10x8xf32, #l>
  %logits = chain.lm_head %x, %w : tensor<?x8xf32, #l>, tensor<10x8xf32, #l> -> tensor<?x10xf32>
  return %logits : tensor<?x10xf32>
}
