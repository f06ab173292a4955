// Corpus models at 224x224x3 (Teachable Machine exports and their Keras 3 re-save): every step, and
// a folder of mixed-size photos through a whole run.
import { corpusSuite, heavy, photoFolderSuite } from './harness';

corpusSuite(heavy);
photoFolderSuite();
