#l = #chain.layout<[1, 1]>

func.func @inexact_masks(%x: tensor<?x4xf32, #l>) -> (tensor<?x4xf32, #l>, tensor<?x4xf32, #l>) {
  %w = chain.param "w" : tensor<4x4xf32>
  %hole = arith.constant dense<[[1.0, 1.0, 0.0, 0.0],
                                [1.0, 0.0, 0.0, 0.0],
                                [1.0, 1.0, 1.0, 1.0],
                                [1.0, 1.0, 1.0, 1.0]]> : tensor<4x4xf32>
  %half = arith.constant dense<[[0.5, 0.5, 0.0, 0.0],
                                [0.5, 0.5, 0.0, 0.0],
                                [0.5, 0.5, 0.5, 0.5],
                                [0.5, 0.5, 0.5, 0.5]]> : tensor<4x4xf32>
  %w1 = chain.mul %w, %hole : tensor<4x4xf32>
  %w2 = chain.mul %w, %half : tensor<4x4xf32>
  %y1 = chain.dense %x, %w1 : tensor<?x4xf32, #l>, tensor<4x4xf32> -> tensor<?x4xf32, #l>
  %y2 = chain.dense %x, %w2 : tensor<?x4xf32, #l>, tensor<4x4xf32> -> tensor<?x4xf32, #l>
  return %y1, %y2 : tensor<?x4xf32, #l>, tensor<?x4xf32, #l>
}
