// RUN: colm-opt %s -split-input-file -allow-unregistered-dialect -verify-diagnostics --chain-autodiff="chain-loss=all freeze-chains=1"

// chain-autodiff builds the chain loss of spec/colm.md section 4 only where
// the k-chain logits of the graph are the k-chain sub-model's (a causal
// graph) and, with freeze-chains, only where every frozen entry really gets
// no gradient. Everything else is refused with an error.

#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>

// An unmasked dense linear between chained values: chain 1 of the logits'
// input reads chain 2, so the 1-chain loss would not be the sub-model's.
func.func @forward(%tokens: tensor<?xi32>) -> tensor<?x10xf32> {
  %e = chain.param "e" : tensor<10x8xf32, #l>
  %x = chain.embed %e[%tokens] : tensor<10x8xf32, #l>, tensor<?xi32> -> tensor<?x8xf32, #l>
  %w = chain.param "w" : tensor<8x8xf32>
  // expected-error @+1 {{chain-autodiff: refusing an op that breaks the chain causal rule: chain 1 of the result depends on chain 2 (weight block (1, 2) of this dense linear is not masked to zero)}}
  %y = chain.dense %x, %w : tensor<?x8xf32, #l>, tensor<8x8xf32> -> tensor<?x8xf32, #l>
  %h = chain.param "lm_head.weight" : tensor<10x8xf32, #l>
  %logits = chain.lm_head %y, %h : tensor<?x8xf32, #l>, tensor<10x8xf32, #l> -> tensor<?x10xf32>
  return %logits : tensor<?x10xf32>
}

// -----

#l = #chain.layout<[1, 1]>

// A masked dense linear is causal, but its weight's rows belong to both
// chains: freezing chain 1 would freeze all of it.
func.func @forward(%tokens: tensor<?xi32>) -> tensor<?x10xf32> {
  %e = chain.param "e" : tensor<10x4xf32, #l>
  %x = chain.embed %e[%tokens] : tensor<10x4xf32, #l>, tensor<?xi32> -> tensor<?x4xf32, #l>
  %w = chain.param "w" : tensor<4x4xf32>
  %m = arith.constant dense<[[1.0, 1.0, 0.0, 0.0],
                             [1.0, 1.0, 0.0, 0.0],
                             [1.0, 1.0, 1.0, 1.0],
                             [1.0, 1.0, 1.0, 1.0]]> : tensor<4x4xf32>
  %wm = chain.mul %w, %m : tensor<4x4xf32>
  // expected-error @+1 {{chain-autodiff: freeze-chains=1 cannot freeze part of this dense linear's weight: its rows belong to chains 1..2}}
  %y = chain.dense %x, %wm : tensor<?x4xf32, #l>, tensor<4x4xf32> -> tensor<?x4xf32, #l>
  %h = chain.param "lm_head.weight" : tensor<10x4xf32, #l>
  %logits = chain.lm_head %y, %h : tensor<?x4xf32, #l>, tensor<10x4xf32, #l> -> tensor<?x10xf32>
  return %logits : tensor<?x10xf32>
}

// -----

#l = #chain.layout<[1, 1]>

// A chained parameter added to the activations (a bias): the add passes
// the whole gradient on, chain 1 included.
func.func @forward(%tokens: tensor<?xi32>) -> tensor<?x10xf32> {
  %e = chain.param "e" : tensor<10x4xf32, #l>
  %x = chain.embed %e[%tokens] : tensor<10x4xf32, #l>, tensor<?xi32> -> tensor<5x4xf32, #l>
  // expected-error @+1 {{chain-autodiff: freeze-chains=1 cannot keep chains 1..1 of parameter 'bias' fixed: part of its gradient comes through an op that does not freeze per chain}}
  %bias = chain.param "bias" : tensor<5x4xf32, #l>
  %y = chain.add %x, %bias : tensor<5x4xf32, #l>
  %h = chain.param "lm_head.weight" : tensor<10x4xf32, #l>
  %logits = chain.lm_head %y, %h : tensor<5x4xf32, #l>, tensor<10x4xf32, #l> -> tensor<?x10xf32>
  return %logits : tensor<?x10xf32>
}

// -----

#l = #chain.layout<[1, 1]>
#l1 = #chain.layout<[1]>

// An op with two results on the gradient's path: the gradient must not stop
// there silently (the embedding would get only part of it).
func.func @forward(%tokens: tensor<?xi32>) -> tensor<?x10xf32> {
  %e = chain.param "e" : tensor<10x4xf32, #l>
  %x = chain.embed %e[%tokens] : tensor<10x4xf32, #l>, tensor<?xi32> -> tensor<?x4xf32, #l>
  %x1 = chain.prefix %x chains 1 : tensor<?x4xf32, #l> -> tensor<?x2xf32, #l1>
  // expected-error @+1 {{chain-autodiff: cannot differentiate test.split}}
  %a:2 = "test.split"(%x1) : (tensor<?x2xf32, #l1>) -> (tensor<?x4xf32, #l>, tensor<?x4xf32, #l>)
  %y = chain.add %x, %a#0 : tensor<?x4xf32, #l>
  %h = chain.param "lm_head.weight" : tensor<10x4xf32, #l>
  %logits = chain.lm_head %y, %h : tensor<?x4xf32, #l>, tensor<10x4xf32, #l> -> tensor<?x10xf32>
  return %logits : tensor<?x10xf32>
}

// -----

#l = #chain.layout<[1, 1]>

// Caught by GraphFuzz under ASan (read past the operands of the entry block's
// terminator): the step is built from a single block.
// expected-error @+1 {{chain-autodiff: the function must be a single block}}
func.func @forward(%x: tensor<?x8xf32, #l>) -> tensor<?x10xf32> {
  "test.br"()[^bb1] : () -> ()
^bb1:
  %w = chain.param "lm_head.weight" : tensor<10x8xf32, #l>
  %logits = chain.lm_head %x, %w : tensor<?x8xf32, #l>, tensor<10x8xf32, #l> -> tensor<?x10xf32>
  return %logits : tensor<?x10xf32>
}

// -----

#l = #chain.layout<[1, 1]>

// Caught by GraphFuzz (the step summed gradients of different types): one
// parameter used as two different slices.
func.func @forward(%t: tensor<?xi32>) -> tensor<?x10xf32> {
  // expected-error @+1 {{chain-autodiff: parameter 'w' is also used as 'tensor<10x8xf32, #chain.layout<[1, 1]>>'; the gradients of different slices of one parameter cannot be summed}}
  %e = chain.param "w" : tensor<20x8xf32, #l>
  %x = chain.embed %e[%t] : tensor<20x8xf32, #l>, tensor<?xi32> -> tensor<?x8xf32, #l>
  %w = chain.param "w" : tensor<10x8xf32, #l>
  %logits = chain.lm_head %x, %w : tensor<?x8xf32, #l>, tensor<10x8xf32, #l> -> tensor<?x10xf32>
  return %logits : tensor<?x10xf32>
}
