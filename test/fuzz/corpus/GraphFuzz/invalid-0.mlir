func.func @split_not_exact(
    %x: tensor<?x10xf32, #chain.layout<[1, 2, 1]>>) {
  return
}
