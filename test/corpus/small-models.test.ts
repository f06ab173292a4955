// Corpus models with small inputs (LeNets, the Keras 3 CNNs, the abalone regressor): every step.
import { corpusSuite, heavy } from './harness';

corpusSuite((e) => !heavy(e) && e.suite === undefined);
