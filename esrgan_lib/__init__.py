"""esrgan_lib: ESRGAN and SRGAN building blocks for the ESRGAN course.

Organised by concept; each is a submodule you import explicitly (importing this package does no
I/O and loads no weights):

- ``esrgan_lib.models``      RRDBNet, ResidualDenseBlock, RRDB, SRResNet, VGGDiscriminator
- ``esrgan_lib.losses``      PerceptualLoss, gradient_penalty, relativistic / WGAN-GP / vanilla GAN losses
- ``esrgan_lib.metrics``     rgb_to_y, psnr, ssim (the published Y-channel protocol)
- ``esrgan_lib.img_util``    image files and conversions: probe, read, write, list, to/from tensors
- ``esrgan_lib.data``        bicubic_downsample, SRPatchDataset, sample_images, benchmarks, DIV2K
- ``esrgan_lib.download``    fetch: resumable, checksummed downloads; the cache folder ($ESRGAN_HOME)
- ``esrgan_lib.training``    the training engine, presets and config (``python -m esrgan_lib.train``)
- ``esrgan_lib.checkpoint``  save/load generators in every ESRGAN key format, export, interpolation
- ``esrgan_lib.inference``   upscale() with tiling and automatic precision (``python -m esrgan_lib.upscale``)
- ``esrgan_lib.inference_ncnn``  upscale()'s ncnn backend: cached ncnn exports run by Tencent's runtime
- ``esrgan_lib.runtime``     device and precision choice (bf16 / fp16 / fp32, channels_last)
- ``esrgan_lib.profiles``    the course's run profiles: smoke, cpu, gpu
- ``esrgan_lib.notebook``    helpers for the notebooks: image grids, live plots, comparison widgets
"""

__version__ = "0.1.0"
