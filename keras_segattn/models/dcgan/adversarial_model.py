"""``AdversarialModel``: a functional generator that carries its discriminator and trains both with ``fit``."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_segattn.tasks.model import TaskModel

__all__ = ["AdversarialModel"]


@keras.saving.register_keras_serializable(package="keras_segattn")
class AdversarialModel(TaskModel):
    """A GAN for ``model.fit``: the functional graph is the generator, ``discriminator`` rides along.

    Goodfellow et al. 2014's minimax game with the non-saturating generator
    loss, as DCGAN trains it (Radford, Metz & Chintala, ICLR 2016): every
    ``fit`` step takes ``(noise, real images)``, updates the discriminator
    with its optimizer on ``BCE(1, D(real)) + BCE(0, D(G(noise)))``, then
    the generator with the compiled optimizer on ``BCE(1, D(G(noise)))``.
    Calling the model runs the generator only, so prediction, saving and
    export see a plain ``noise -> images`` network.

    Args:
        inputs, outputs, name: the generator graph, as for ``keras.Model``.
        discriminator: a ``keras.Model`` from images to one logit per image
            (or its serialised config, when reloading).
        task, registered_name: as :class:`~keras_segattn.tasks.TaskModel`.

    ``compile(optimizer, discriminator_optimizer=None, ...)``: the second
    optimizer defaults to a copy of the first's configuration.
    """

    def __init__(self, *args, discriminator=None, **kwargs):
        super().__init__(*args, **kwargs)
        if isinstance(discriminator, dict):
            discriminator = keras.saving.deserialize_keras_object(discriminator)
        if not isinstance(discriminator, keras.Model):
            raise ValueError(
                "AdversarialModel: discriminator must be a keras.Model from images to one logit, received "
                f"{type(discriminator).__name__}."
            )
        self.discriminator = discriminator
        self.discriminator_optimizer = None

    def get_config(self):
        return {**super().get_config(), "discriminator": keras.saving.serialize_keras_object(self.discriminator)}

    def compile(self, optimizer="adam", discriminator_optimizer=None, **kwargs):
        super().compile(optimizer=optimizer, **kwargs)
        if discriminator_optimizer is None:
            discriminator_optimizer = type(self.optimizer).from_config(self.optimizer.get_config())
        self.discriminator_optimizer = keras.optimizers.get(discriminator_optimizer)
        # Both optimizers' variables now, each over its own player's weights: not inside the first
        # (possibly XLA-compiled) train step, and the same on a reload, so saved optimizer states load.
        self.discriminator_optimizer.build(self.discriminator.trainable_variables)
        if not self.optimizer.built:
            self.optimizer.build(self._generator_variables())

    def get_compile_config(self):
        config = super().get_compile_config()
        if config and self.discriminator_optimizer is not None:
            config["discriminator_optimizer"] = keras.saving.serialize_keras_object(self.discriminator_optimizer)
        return config

    def compile_from_config(self, config):
        """Recompile a reloaded model with both optimizers (Keras skips models whose ``compile`` is custom)."""
        self.compile(**keras.saving.deserialize_keras_object(config))

    def _generator_variables(self):
        theirs = {id(v) for v in self.discriminator.trainable_variables}
        return [v for v in self.trainable_variables if id(v) not in theirs]

    @staticmethod
    def _bce(target, logits):
        return tf.reduce_mean(
            tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.fill(tf.shape(logits), target), logits=logits)
        )

    def adversarial_losses(self, noise, real, training=True):
        """``(discriminator_loss, generator_loss)`` of one batch (both scalars)."""
        fake = self(noise, training=training)
        real_logits = tf.cast(self.discriminator(real, training=training), tf.float32)
        fake_logits = tf.cast(self.discriminator(fake, training=training), tf.float32)
        d_loss = self._bce(1.0, real_logits) + self._bce(0.0, fake_logits)
        g_loss = self._bce(1.0, fake_logits)
        return d_loss, g_loss

    def train_step(self, data):
        noise, real = data[0], data[1]
        if self.discriminator_optimizer is None:
            raise RuntimeError("AdversarialModel: call compile() before fit().")
        d_vars = self.discriminator.trainable_variables
        with tf.GradientTape() as tape:
            d_loss, _ = self.adversarial_losses(noise, real)
        self.discriminator_optimizer.apply(tape.gradient(d_loss, d_vars), d_vars)
        g_vars = self._generator_variables()
        with tf.GradientTape() as tape:
            fake_logits = tf.cast(self.discriminator(self(noise, training=True), training=True), tf.float32)
            g_loss = self._bce(1.0, fake_logits)
        self.optimizer.apply(tape.gradient(g_loss, g_vars), g_vars)
        return {"loss": d_loss + g_loss, "d_loss": d_loss, "g_loss": g_loss}

    def test_step(self, data):
        d_loss, g_loss = self.adversarial_losses(data[0], data[1], training=False)
        return {"loss": d_loss + g_loss, "d_loss": d_loss, "g_loss": g_loss}
