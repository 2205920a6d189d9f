# -*- Python -*-
# lit configuration of the colm tests (dialect, passes, tools).
# The paths come from lit.site.cfg.py, which CMake writes into <build>/test.

import os
import shutil

import lit.formats
import lit.util

config.name = "colm"
config.test_format = lit.formats.ShTest(True)
config.suffixes = [".mlir", ".test"]

# The tests live next to this file; they run in <build>/test.
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.colm_obj_root, "test")

# Directories that hold other kinds of tests (ctest, pytest, fuzzers) or test
# inputs, and the lit configuration itself.
config.excludes = [
    "runtime",
    "fuzz",
    "reference",
    "Inputs",
    "CMakeLists.txt",
    "lit.cfg.py",
    "lit.site.cfg.py",
    "lit.site.cfg.py.in",
]

config.environment["PATH"] = os.pathsep.join(
    [config.colm_tools_dir, config.llvm_tools_dir, config.environment.get("PATH", "")]
)

# Kernels compiled by one test are reused by the others (tests keep their
# own COLM_CACHE_DIR for everything else), so each shape compiles once.
config.environment["COLM_KERNEL_CACHE_DIR"] = os.environ.get(
    "COLM_KERNEL_CACHE_DIR", os.path.join(config.test_exec_root, "kernel-cache")
)

tool = lambda name: os.path.join(config.colm_tools_dir, name)
config.substitutions.append(("%colm-opt", tool("colm-opt")))
config.substitutions.append(("%colmc", tool("colmc")))
config.substitutions.append(("%colm", tool("colm")))
config.substitutions.append(("%python", config.python_executable))
config.substitutions.append(("%examples", config.colm_examples_dir))
config.substitutions.append(("%builddir", config.colm_obj_root))

# NVRTC from the CUDA toolkit ($CUDA_HOME, else /usr/local/cuda): the CUDA
# target's compile checks run where it is installed (CI has it).
cuda_home = os.environ.get("CUDA_HOME", "/usr/local/cuda")
if os.path.exists(os.path.join(cuda_home, "lib64", "libnvrtc.so")):
    config.available_features.add("nvrtc")

# Open MPI's launcher and colm's MPI plugin: the --distributed tests.
mpirun = shutil.which("mpirun")
if mpirun and os.path.exists(os.path.join(config.colm_obj_root, "lib", "libcolm-mpi.so")):
    config.available_features.add("mpi")
    config.substitutions.append(("%mpirun", mpirun))
