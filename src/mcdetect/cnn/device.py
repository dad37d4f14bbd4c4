"""CNN stage: the device that trains and scores (a GPU when there is one, else the CPU), with op
determinism on CPU so that a resumed training ends with the same weights as an uninterrupted one."""

from __future__ import annotations

__all__ = ["configure_device"]


def configure_device(mixed_precision: bool = False, deterministic: bool = True, log=print) -> str:
    """Use a GPU when there is one (memory growth on), else the CPU; say which in the log."""
    import keras

    backend = keras.backend.backend()
    device = "CPU"
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        for gpu in gpus:
            tf.config.experimental.set_memory_growth(gpu, True)
        if gpus:
            device = f"GPU ({len(gpus)}: {', '.join(g.name for g in gpus)})"
        if deterministic:
            tf.config.experimental.enable_op_determinism()
    if mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    log(f"[device] Keras backend {backend}, training on {device}"
        f"{', mixed precision' if mixed_precision else ''}")
    return device
