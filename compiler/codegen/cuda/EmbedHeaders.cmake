# Writes OUT: the texts of the CUDA portability header and the SIMT
# emulator as C++ raw string literals, for the CUDA renderers to paste into
# the sources they generate (NVRTC and the host build need no include path).
file(READ ${CUDA_HEADER} header)
file(READ ${SIMT_HEADER} simt)
file(WRITE ${OUT}.tmp
  "// Generated from runtime/cuda by EmbedHeaders.cmake.\n"
  "static const char *const kColmCudaHeader = R\"COLMHDR(${header})COLMHDR\";\n"
  "static const char *const kSimtEmulatorHeader = R\"COLMHDR(${simt})COLMHDR\";\n")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
