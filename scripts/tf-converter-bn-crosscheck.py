"""Which ops TF's own TF Lite converter emits for Conv-BN-ReLU6, DepthwiseConv-BN, GAP, Dense-BN.

Dev-only cross-check for the BatchNorm folding in src-main/engine/export/tflite/fold.ts (the test
"gives the op list TF 2.21's own converter gives" in test/unit/node/verify/litert-bnfold.test.ts
asserts the same list). Needs the dev venv with TensorFlow; tests and CI never run it:
    KERAS_BACKEND=tensorflow /opt/kvenv/bin/python scripts/tf-converter-bn-crosscheck.py
Printed with TF 2.21: ['CONV_2D', 'DEPTHWISE_CONV_2D', 'MEAN', 'FULLY_CONNECTED'] and a max
difference to Keras of ~5e-6.
"""
import numpy as np
import tensorflow as tf
import keras
from keras import layers

rng = np.random.default_rng(0)
inp = keras.Input((7, 7, 3), batch_size=1)
x = layers.Conv2D(5, 3, padding="same", use_bias=False)(inp)
x = layers.ReLU(6.0)(layers.BatchNormalization()(x))
x = layers.BatchNormalization()(layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(x))
x = layers.Dense(4)(layers.GlobalAveragePooling2D()(x))
m = keras.Model(inp, layers.BatchNormalization()(x))
for layer in m.layers:
    for v in layer.weights:
        name, shape = v.path.split("/")[-1], tuple(v.shape)
        if name == "moving_variance":
            val = np.exp(rng.uniform(np.log(1e-2), np.log(10), shape))
        elif name == "moving_mean":
            val = rng.uniform(-3, 3, shape)
        else:
            val = rng.uniform(-1, 1, shape)
        v.assign(val.astype("float32"))

interp = tf.lite.Interpreter(model_content=tf.lite.TFLiteConverter.from_keras_model(m).convert())
# Op list before allocate_tensors (afterwards XNNPACK replaces them with a DELEGATE op).
print("TF converter ops:", [d["op_name"] for d in interp._get_ops_details()])
interp.allocate_tensors()
xx = rng.uniform(-1, 1, (1, 7, 7, 3)).astype("float32")
interp.set_tensor(interp.get_input_details()[0]["index"], xx)
interp.invoke()
print("max diff vs Keras:", np.abs(interp.get_tensor(interp.get_output_details()[0]["index"]) - m.predict(xx, verbose=0)).max())
