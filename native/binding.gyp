{
  "targets": [
    {
      "target_name": "gradscope_blas",
      "sources": ["gradscope_blas.c"],
      "cflags": ["-O2", "-std=c11"],
      "libraries": ["-lopenblas", "-lpthread", "-lm"]
    }
  ]
}
