export { lenet300100, lenet5, type BuilderOptions } from './lenet';
export { smallFunctionalNet } from './functional';
export { compileClassifier, labelTensor, type CompileOptions } from './compile';
export { flattenModel, hasNestedModels, disposeModelWeights, type FlattenResult, type NestingMap } from './flatten';
