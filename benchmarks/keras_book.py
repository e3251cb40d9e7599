"""The book's notebook code (Deep Learning with Python, ch. 3.5) on Keras 3 + TensorFlow CPU.

Fed the same encoded reviews critic uses (exported by ``bench_reproduce.py`` as flat int32
arrays, so both sides see identical inputs). Usage: ``python keras_book.py REVIEWS.npz OUT.json``.
Only the lines that read the inputs and write the result differ from the book.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
started = time.perf_counter()

import numpy as np  # noqa: E402
from tensorflow import keras  # noqa: E402
from tensorflow.keras import layers  # noqa: E402


def ragged(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    bounds = offsets.tolist()
    flat = values.tolist()
    out = np.empty(len(bounds) - 1, dtype=object)
    out[:] = [flat[lo:hi] for lo, hi in itertools.pairwise(bounds)]
    return out


with np.load(sys.argv[1]) as data:
    train_data = ragged(data["train_values"], data["train_offsets"])
    test_data = ragged(data["test_values"], data["test_offsets"])
    train_labels, test_labels = data["train_labels"], data["test_labels"]


def vectorize_sequences(sequences, dimension=10000):
    results = np.zeros((len(sequences), dimension))
    for i, sequence in enumerate(sequences):
        results[i, sequence] = 1.
    return results


x_train = vectorize_sequences(train_data)
x_test = vectorize_sequences(test_data)
y_train = np.asarray(train_labels).astype("float32")
y_test = np.asarray(test_labels).astype("float32")

model = keras.Sequential([
    layers.Dense(16, activation="relu"),
    layers.Dense(16, activation="relu"),
    layers.Dense(1, activation="sigmoid")
])
model.compile(optimizer="rmsprop",
              loss="binary_crossentropy",
              metrics=["accuracy"])
x_val = x_train[:10000]
partial_x_train = x_train[10000:]
y_val = y_train[:10000]
partial_y_train = y_train[10000:]
history = model.fit(partial_x_train,
                    partial_y_train,
                    epochs=20,
                    batch_size=512,
                    validation_data=(x_val, y_val),
                    verbose=2)

model = keras.Sequential([
    layers.Dense(16, activation="relu"),
    layers.Dense(16, activation="relu"),
    layers.Dense(1, activation="sigmoid")
])
model.compile(optimizer="rmsprop",
              loss="binary_crossentropy",
              metrics=["accuracy"])
model.fit(x_train, y_train, epochs=4, batch_size=512, verbose=2)
results = model.evaluate(x_test, y_test, verbose=0)
predictions = model.predict(x_test, verbose=0)

val_accuracy = history.history["val_accuracy"]
with open(sys.argv[2], "w") as out:
    json.dump({"test_loss": results[0], "test_accuracy": results[1],
               "best_val_accuracy_epoch": int(np.argmax(val_accuracy)) + 1,
               "seconds_inside": time.perf_counter() - started}, out)
