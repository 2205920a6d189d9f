#l = #chain.layout<[1, 1]>

func.func @forward_part_of_a_step(%x: tensor<?x8xf32, #l>, %g: tensor<8xf32, #l>, %t: tensor<?xi32>) -> tensor<?x10xf32> {
  %n = chain.norm %x, %g stats(#chain.layout<[1]>) : tensor<?x8xf32, #l>, tensor<8xf32, #l>
  %w = chain.param "lm_head.weight" : tensor<10x8xf32, #l>
  %logits = chain.lm_head %n, %w : tensor<?x8xf32, #l>, tensor<10x8xf32, #l> -> tensor<?x10xf32>
  %d = chain.cross_entropy_grad %logits, %t : tensor<?x10xf32>, tensor<?xi32> -> tensor<?x10xf32>
  return %d : tensor<?x10xf32>
}
