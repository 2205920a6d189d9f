#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>

func.func @colm_layer(%tokens: tensor<?xi32>, %targets: tensor<?xi32>) -> (tensor<f32>, tensor<?x32xf32>) {
  %emb = chain.param "model.embed_tokens.weight" : tensor<32x16xf32, #l>
  %x = chain.embed %emb[%tokens] : tensor<32x16xf32, #l>, tensor<?xi32> -> tensor<?x16xf32, #l>
  %g1 = chain.param "model.layers.0.input_layernorm.weight" : tensor<16xf32, #l>
  %a = chain.norm %x, %g1 : tensor<?x16xf32, #l>, tensor<16xf32, #l>
  %wq = chain.param "model.layers.0.self_attn.q_proj.weight" : tensor<16x16xf32, #b>
  %wk = chain.param "model.layers.0.self_attn.k_proj.weight" : tensor<16x16xf32, #b>
  %wv = chain.param "model.layers.0.self_attn.v_proj.weight" : tensor<16x16xf32, #b>
  %q0 = chain.linear %a, %wq : tensor<?x16xf32, #l>, tensor<16x16xf32, #b> -> tensor<?x16xf32, #l>
  %k0 = chain.linear %a, %wk : tensor<?x16xf32, #l>, tensor<16x16xf32, #b> -> tensor<?x16xf32, #l>
  %v = chain.linear %a, %wv : tensor<?x16xf32, #l>, tensor<16x16xf32, #b> -> tensor<?x16xf32, #l>
  %q = chain.rope %q0 {head_dim = 8} : tensor<?x16xf32, #l>
  %k = chain.rope %k0 {head_dim = 8} : tensor<?x16xf32, #l>
  %att = chain.attention %q, %k, %v kv_mapping grouped {head_dim = 8} : tensor<?x16xf32, #l>, tensor<?x16xf32, #l>, tensor<?x16xf32, #l>
  %wo = chain.param "model.layers.0.self_attn.o_proj.weight" : tensor<16x16xf32, #b>
  %o = chain.linear %att, %wo : tensor<?x16xf32, #l>, tensor<16x16xf32, #b> -> tensor<?x16xf32, #l>
  %x1 = chain.add %x, %o : tensor<?x16xf32, #l>
  %g2 = chain.param "model.layers.0.post_attention_layernorm.weight" : tensor<16xf32, #l>
  %bn = chain.norm %x1, %g2 : tensor<?x16xf32, #l>, tensor<16xf32, #l>
  %wg = chain.param "model.layers.0.mlp.gate_proj.weight" : tensor<32x16xf32, #b>
  %wu = chain.param "model.layers.0.mlp.up_proj.weight" : tensor<32x16xf32, #b>
  %wd = chain.param "model.layers.0.mlp.down_proj.weight" : tensor<16x32xf32, #b>
  %gt = chain.linear %bn, %wg : tensor<?x16xf32, #l>, tensor<32x16xf32, #b> -> tensor<?x32xf32, #l>
  %up = chain.linear %bn, %wu : tensor<?x16xf32, #l>, tensor<32x16xf32, #b> -> tensor<?x32xf32, #l>
  %h = chain.swiglu %gt, %up : tensor<?x32xf32, #l>
  %d = chain.linear %h, %wd : tensor<?x32xf32, #l>, tensor<16x32xf32, #b> -> tensor<?x16xf32, #l>
  %x2 = chain.add %x1, %d : tensor<?x16xf32, #l>
  %gf = chain.param "model.norm.weight" : tensor<16xf32, #l>
  %xf = chain.norm %x2, %gf : tensor<?x16xf32, #l>, tensor<16xf32, #l>
  %we = chain.param "lm_head.weight" : tensor<32x16xf32, #l>
  %small = chain.lm_head %xf, %we chains 1 : tensor<?x16xf32, #l>, tensor<32x16xf32, #l> -> tensor<?x32xf32>
  %full = chain.lm_head %xf, %we : tensor<?x16xf32, #l>, tensor<32x16xf32, #l> -> tensor<?x32xf32>
  %loss = chain.cross_entropy %small, %targets : tensor<?x32xf32>, tensor<?xi32> -> tensor<f32>
  return %loss, %full : tensor<f32>, tensor<?x32xf32>
}
