"""Measurements of a trained model. Each metric is a function of (model, data, seed, sizes) that returns a
dict, in the shape of disentanglement_lib's metrics:

- `likelihood`: the test -ELBO and the IWAE bound with k importance samples;
- `reconstruction`: MSE, PSNR and SSIM of reconstructions (scikit-image), their sharpness against the data, and
  the share of the data's edges they carry (edge fidelity);
- `realism`: KID and FD of reconstructions, prior samples and slerp midpoints against test images, in the features
  of the data's evaluator;
- `fidelity`: the evaluator's accuracy on reconstructions vs originals, and its judgement of prior samples;
- `interpolation`: prior typicality, smoothness and target-class rise along lerp / slerp / cdf paths;
- `activity`: active latent units;
- `evaluate`: all of the above for one model, as the table and eval.json of `vaelab evaluate`;
- `sweep`: the latent-size sweep, which trains a model per size and measures each with the above.
"""
