#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>
#l1 = #chain.layout<[1]>



func.func @forward(%t: tensor<?xi32>) -> tensor<?x10xf32> {
  %e = chain.param "e" : tensor<10x8xf32, #l>
  %x = chain.embed %e[%t] : tensor<10x8xf32, #l>, tensor<?xi32> -> tensor<?x8xf32, #l>
  %g = chain.param "g" : tensor<8xf32, #l>
  %a = chain.norm %x, %g : tensor<?x8xf32, #l>, tensor<8xf32, #l>
  %wq = chain.param "wq" : tensor<8x8xf32, #b>
  %q = chain.linear %a, %wq : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %a1 = chain.prefix %a chains 1 : tensor<?x8xf32, #l> -> tensor<?x4xf32, #l1>
  %wk = chain.param "wk" : tensor<2x4xf32>
  %k = chain.dense %a1, %wk : tensor<?x4xf32, #l1>, tensor<2x4xf32> -> tensor<?x2xf32>
  %qr = chain.rope %q {head_dim = 2 : i64} : tensor<?x8xf32, #l>
  %kr = chain.rope %k {head_dim = 2 : i64} : tensor<?x2xf32>
  %o = chain.attention %qr, %kr, %k kv_mapping tiled {head_dim = 2 : i64} : tensor<?x8xf32, #l>, tensor<?x2xf32>, tensor<?x2xf32>
  %h = chain.add %x, %o : tensor<?x8xf32, #l>
  %wg = chain.param "wg" : tensor<8x8xf32, #b>
  %gate = chain.linear %h, %wg : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %act = chain.swiglu %gate, %h : tensor<?x8xf32, #l>
  %w = chain.param "lm_head.weight" : tensor<10x8xf32, #l>
  %logits = chain.lm_head %act, %w : tensor<?x8xf32, #l>, tensor<10x8xf32, #l> -> tensor<?x10xf32>
  return %logits : tensor<?x10xf32>
}
