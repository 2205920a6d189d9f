// RUN: colm-opt %s -split-input-file -verify-diagnostics

// One case per verifier rule of the kernel dialect: what every target relies
// on when it runs a program.

// The plan: two buffers live at the same launch never share arena bytes.
kernel.program @p target "cpu" sizes {} variables [] max [] arena 128 {
  kernel.def @c symbol "colm_c" #kernel.copy<width = 16, src_stride = 16, dst_stride = 16, dst_offset = 0, zero_rest = false>
  kernel.buffer @a temporary f32 [16] at 0
  // expected-error @+1 {{shares arena bytes [0, 64) with @a while both are live (launches 0 to 0)}}
  kernel.buffer @b temporary f32 [16] at 0
  kernel.launch @c (0 = @a[0], 8 = @b[0], 16 = int 1) bytes 24 label "b = a" flops 0.0
}

// -----

// The same bytes at different launches are the point of the plan.
kernel.program @p target "cpu" sizes {} variables [] max [] arena 128 {
  kernel.def @c symbol "colm_c" #kernel.copy<width = 16, src_stride = 16, dst_stride = 16, dst_offset = 0, zero_rest = false>
  kernel.buffer @x input f32 [16]
  kernel.buffer @a temporary f32 [16] at 0
  kernel.buffer @b temporary f32 [16] at 64
  kernel.buffer @c2 output f32 [16] at 0
  kernel.launch @c (0 = @x[0], 8 = @a[0], 16 = int 1) bytes 24 label "a = x" flops 0.0
  kernel.launch @c (0 = @a[0], 8 = @b[0], 16 = int 1) bytes 24 label "b = a" flops 0.0
  kernel.launch @c (0 = @b[0], 8 = @c2[0], 16 = int 1) bytes 24 label "c2 = b" flops 0.0
}

// -----

// An output lives to the end: nothing may reuse its bytes after it is
// written.
kernel.program @p target "cpu" sizes {} variables [] max [] arena 128 {
  kernel.def @c symbol "colm_c" #kernel.copy<width = 16, src_stride = 16, dst_stride = 16, dst_offset = 0, zero_rest = false>
  kernel.buffer @x input f32 [16]
  kernel.buffer @y output f32 [16] at 0
  // expected-error @+1 {{shares arena bytes [0, 64) with @y while both are live (launches 1 to 1)}}
  kernel.buffer @t temporary f32 [16] at 0
  kernel.launch @c (0 = @x[0], 8 = @y[0], 16 = int 1) bytes 24 label "y = x" flops 0.0
  kernel.launch @c (0 = @x[0], 8 = @t[0], 16 = int 1) bytes 24 label "t = x" flops 0.0
}

// -----

// A view keeps the buffer it views alive.
kernel.program @p target "cpu" sizes {} variables [] max [] arena 128 {
  kernel.def @c symbol "colm_c" #kernel.copy<width = 16, src_stride = 16, dst_stride = 16, dst_offset = 0, zero_rest = false>
  kernel.buffer @x input f32 [16]
  kernel.buffer @a temporary f32 [16] at 0
  kernel.buffer @a_half temporary f32 [8] view @a [8]
  // expected-error @+1 {{shares arena bytes [0, 64) with @a while both are live (launches 1 to 1)}}
  kernel.buffer @b temporary f32 [16] at 0
  kernel.launch @c (0 = @x[0], 8 = @a[0], 16 = int 1) bytes 24 label "a = x" flops 0.0
  kernel.launch @c (0 = @a_half[0], 8 = @b[0], 16 = int 1) bytes 24 label "b = a" flops 0.0
}

// -----

kernel.program @p target "cpu" sizes {} variables ["tokens"] max [8] arena 1024 {
  // expected-error @+1 {{does not lie in the arena: bytes [0, 2048) of 1024}}
  kernel.buffer @h temporary f32 [v0, 64] at 0
}

// -----

kernel.program @p target "cpu" sizes {} variables [] max [] arena 1024 {
  // expected-error @+1 {{does not lie in the arena: bytes [32, 96) of 1024}}
  kernel.buffer @h temporary f32 [16] at 32
}

// -----

// An offset near INT64_MAX: the error says so without overflowing.
kernel.program @p target "cpu" sizes {} variables [] max [] arena 1024 {
  // expected-error @+1 {{does not lie in the arena: bytes [9223372036854775744, 9223372036854775744 + 64) of 1024}}
  kernel.buffer @h temporary f32 [16] at 9223372036854775744
}

// -----

// A launch's profile count and float arguments are finite too.
kernel.program @p target "cpu" sizes {} variables [] max [] arena 128 {
  kernel.def @c symbol "colm_c" #kernel.copy<width = 16, src_stride = 16, dst_stride = 16, dst_offset = 0, zero_rest = false>
  kernel.buffer @a temporary f32 [16] at 0
  // expected-error @+1 {{a kernel parameter must be a finite number}}
  kernel.launch @c (0 = @a[0], 8 = @a[0], 16 = int 1) bytes 24 label "a = a" flops 2.5e+9223372036854775807
}

// -----

kernel.program @p target "cpu" sizes {} variables [] max [] arena 128 {
  kernel.def @c symbol "colm_c" #kernel.copy<width = 16, src_stride = 16, dst_stride = 16, dst_offset = 0, zero_rest = false>
  kernel.buffer @a temporary f32 [16] at 0
  // expected-error @+1 {{a kernel parameter must be a finite number}}
  kernel.launch @c (0 = @a[0], 8 = @a[0], 16 = float 1.0e400) bytes 24 label "a = a" flops 0.0
}

// -----

kernel.program @p target "cpu" sizes {} variables [] max [] arena 1024 {
  // expected-error @+1 {{needs a place in the arena (`at N`)}}
  kernel.buffer @h temporary f32 [16]
}

// -----

kernel.program @p target "cpu" sizes {} variables [] max [] arena 1024 {
  // expected-error @+1 {{is bound by the caller (param): it has no place in the arena}}
  kernel.buffer @w param f32 [16] at 0
}

// -----

kernel.program @p target "cpu" sizes {} variables [] max [] arena 1024 {
  kernel.buffer @w param f32 [16]
  // expected-error @+1 {{can only view a temporary or output buffer of its element type that is not a view itself}}
  kernel.buffer @v temporary f32 [8] view @w [0]
}

// -----

kernel.program @p target "cpu" sizes {} variables [] max [] arena 1024 {
  kernel.buffer @a temporary f32 [16] at 0
  // expected-error @+1 {{views elements [12, 20) of a, which has 16}}
  kernel.buffer @v temporary f32 [8] view @a [12]
}

// -----

kernel.program @p target "cpu" sizes {} variables [] max [] arena 1024 {
  // expected-error @+1 {{has element type 'f16' (f32, i32, f64 or bf16)}}
  kernel.buffer @a temporary f16 [16] at 0
}

// -----

kernel.program @p target "cpu" sizes {} variables ["tokens"] max [8] arena 1024 {
  // expected-error @+1 {{a dimension names a size variable the program does not have (it has 1)}}
  kernel.buffer @a temporary f32 [v1] at 0
}

// -----

// expected-error @+1 {{has 1 variables but 2 maxima}}
kernel.program @p target "cpu" sizes {} variables ["tokens"] max [8, 8] arena 0 {
}

// -----

kernel.program @p target "cpu" sizes {} variables [] max [] arena 1024 {
  // expected-error @+1 {{expected a role (temporary, output, input or param), got 'scratch'}}
  kernel.buffer @a scratch f32 [16] at 0
}

// -----

kernel.program @p target "cpu" sizes {} variables ["tokens"] max [8] arena 1024 {
  // expected-error @+1 {{a size's coefficients must be positive, v0 has -2}}
  kernel.buffer @a input f32 [-2 * v0]
}

// -----

kernel.program @p target "cpu" sizes {} variables [] max [] arena 1024 {
  // expected-error @+1 {{expected an integer or a size variable (v0, v1, ...), got 'tokens'}}
  kernel.buffer @a input f32 [tokens]
}

// -----

kernel.program @p target "cpu" sizes {} variables [] max [] arena 1024 {
  // expected-error @+1 {{cuda_tile needs rows, columns and a reduction step}}
  kernel.def @g symbol "colm_g" #kernel.gemm<use = forward, m = -1, n = 64, k = 64, a_transposed = false, b_transposed = true, accumulate = false, addend = false, swiglu = none, bf16 = false, b_bf16 = false, blocks = [n 0:64 k 0:64 m 0:?], mr = 12, nr = 32, kc = 256, mc = 96, cuda_tile = [128, 32]>
}

// -----

kernel.program @p target "cpu" sizes {} variables [] max [] arena 1024 {
  // expected-error @+1 {{use 'sideways': expected one of forward input_grad weight_grad dense}}
  kernel.def @g symbol "colm_g" #kernel.gemm<use = sideways, m = -1, n = 64, k = 64, a_transposed = false, b_transposed = true, accumulate = false, addend = false, swiglu = none, bf16 = false, b_bf16 = false, blocks = [n 0:64 k 0:64 m 0:?], mr = 12, nr = 32, kc = 256, mc = 96>
}

// -----

kernel.program @p target "cpu" sizes {} variables [] max [] arena 1024 {
  // expected-error @+1 {{needs a kernel spec (#kernel.gemm<...>, #kernel.norm<...>, ...), got 3 : i64}}
  kernel.def @g symbol "colm_g" 3
}

// -----

kernel.program @p target "cpu" sizes {} variables [] max [] arena 1024 {
  kernel.buffer @x input f32 [16]
  // expected-error @+1 {{runs @nothing, which is not a kernel.def of @p}}
  kernel.launch @nothing (0 = @x[0]) bytes 8 label "" flops 0.0
}

// -----

kernel.program @p target "cpu" sizes {} variables [] max [] arena 1024 {
  kernel.def @c symbol "colm_c" #kernel.copy<width = 16, src_stride = 16, dst_stride = 16, dst_offset = 0, zero_rest = false>
  // expected-error @+1 {{points into @y is not a buffer of @p}}
  kernel.launch @c (0 = @y[0]) bytes 8 label "" flops 0.0
}

// -----

kernel.program @p target "cpu" sizes {} variables [] max [] arena 1024 {
  kernel.def @c symbol "colm_c" #kernel.copy<width = 16, src_stride = 16, dst_stride = 16, dst_offset = 0, zero_rest = false>
  kernel.buffer @x input f32 [16]
  // expected-error @+1 {{has a field at byte 8 outside its 8-byte struct}}
  kernel.launch @c (0 = @x[0], 8 = int 1) bytes 8 label "" flops 0.0
}

// -----

kernel.program @p target "cpu" sizes {} variables [] max [] arena 1024 {
  kernel.def @c symbol "colm_c" #kernel.copy<width = 16, src_stride = 16, dst_stride = 16, dst_offset = 0, zero_rest = false>
  kernel.buffer @x input f32 [16]
  // expected-error @+1 {{has two fields at byte 0}}
  kernel.launch @c (0 = @x[0], 0 = int 1) bytes 16 label "" flops 0.0
}

// -----

kernel.program @p target "cpu" sizes {} variables [] max [] arena 1024 {
  // expected-error @+1 {{'arith.constant' op cannot be in a kernel.program (only kernel.def, kernel.buffer, kernel.launch)}}
  %0 = arith.constant 0 : i32
}

// -----

// The layers do not mix: a chain op is not part of a kernel program either.
func.func @f() {
  // expected-error @+1 {{'kernel.buffer' op expects parent op 'kernel.program'}}
  kernel.buffer @a input f32 [16]
  return
}

// -----

// Sizes are checked without overflowing.
kernel.program @p target "cpu" sizes {} variables [] max [] arena 1024 {
  // expected-error @+1 {{is too large}}
  kernel.buffer @a input f32 [1099511627776, 1099511627776]
}

// -----

kernel.program @p target "cpu" sizes {} variables ["tokens"] max [4294967296] arena 1024 {
  // expected-error @+1 {{a dimension is out of range at the maxima}}
  kernel.buffer @a input f32 [4611686018427387904 * v0]
}

// -----

kernel.program @p target "cpu" sizes {} variables [] max [] arena 1024 {
  kernel.def @c symbol "colm_c" #kernel.copy<width = 16, src_stride = 16, dst_stride = 16, dst_offset = 0, zero_rest = false>
  // expected-error @+1 {{has a field at byte 9223372036854775800 outside its 8-byte struct}}
  kernel.launch @c (9223372036854775800 = int 1) bytes 8 label "" flops 0.0
}

// -----

// expected-error @+1 {{every size's maximum must lie in [1, 2^32]}}
kernel.program @p target "cpu" sizes {} variables ["tokens"] max [0] arena 0 {
}

// -----

// Parameters are finite: 1e400 overflows a double (it would print as inf,
// which does not read back).
kernel.program @p target "cpu" sizes {} variables [] max [] arena 0 {
  // expected-error @+2 {{a kernel parameter must be a finite number}}
  // expected-error @+1 {{failed to parse Kernel_RopeAttr parameter 'theta'}}
  kernel.def @r symbol "colm_r" #kernel.rope<width = 64, head_dim = 16, theta = 1.0e400, inverse = false>
}
