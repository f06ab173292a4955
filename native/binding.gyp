{
  "targets": [
    {
      "target_name": "topiary_native",
      "sources": ["binding.c", "gemm.c", "train.c", "depthwise.c"],
      "cflags": ["-O3", "-std=gnu11", "-ffp-contract=fast", "-fno-math-errno", "-Wall", "-Wno-psabi"],
      "conditions": [
        ["OS=='linux'", {
          "cflags": ["-fopenmp"],
          "ldflags": ["-fopenmp"]
        }],
        ["OS=='win'", {
          "msvs_settings": { "VCCLCompilerTool": { "AdditionalOptions": ["/openmp", "/O2"] } }
        }],
        ["OS=='mac'", {
          "xcode_settings": { "OTHER_CFLAGS": ["-O3", "-ffp-contract=fast"] }
        }]
      ]
    }
  ]
}
