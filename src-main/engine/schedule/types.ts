/** A pruning schedule maps an optimizer step to whether to prune there and to which sparsity. */
export interface ScheduleStep {
  prune: boolean;
  sparsity: number;
}
export type Schedule = (step: number) => ScheduleStep;
