"""Layer 3: the LLVM JIT (llvmlite): context and caches, IR helpers, lowering, cfunc."""
