/** Gradient kernels the wasm backend lacks, registered so model.fit works for conv nets on wasm. */
export function registerWasmTrainingKernels(): void {
  // Filled in by the backends work (issue 2).
}
