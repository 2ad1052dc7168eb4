"""Architecture plugins (mlp, dcgan, resnet, toy) and their shared shells in gankit.nets."""
import subprocess
import sys

import pytest
import torch
from torch import nn

from gankit import GankitError
from gankit.config import CORE_OPTIONS
from gankit.data import DataSpec
from gankit.nets import Critic, Generator, Residual, conditional_classes, critic_in_shape
from gankit.options import declare
from gankit_plugins import dcgan, mlp, resnet, toy

ARCHS = {"mlp": mlp, "dcgan": dcgan, "resnet": resnet, "toy": toy}
DIGITS = DataSpec((1, 8, 8), "image", 10)
IMAGES = {"digits": DIGITS, "rgb32": DataSpec((3, 32, 32), "image", 10), "rgb64": DataSpec((3, 64, 64), "image", 10)}
POINTS = DataSpec((2,), "points", 8)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d)


def options_for(arch, **overrides):
    """Core defaults, the plugin's declared defaults, unconditional; then ``overrides``."""
    options = {o.name: o.default for o in CORE_OPTIONS}
    options.update({o.name: o.default for o in getattr(arch, "gankit_options", list)()})
    options.update(conditional=False, conditioning="projection")
    return {**options, **overrides}


def build(arch, spec, **overrides):
    options = options_for(arch, **overrides)
    return arch.gankit_generator(spec=spec, options=options), arch.gankit_critic(spec=spec, options=options)


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def modules_of(module, kind):
    return [m for m in module.modules() if isinstance(m, kind)]


def labels(n, k, seed=0):
    return torch.randint(k, (n,), generator=torch.Generator().manual_seed(seed))


# --- shapes, for every architecture -----------------------------------------------------------


@pytest.mark.parametrize("image", IMAGES)
@pytest.mark.parametrize("name", ARCHS)
def test_image_shapes_range_and_features(name, image):
    spec = IMAGES[image]
    generator, critic = build(ARCHS[name], spec)
    assert isinstance(generator, Generator) and isinstance(critic, Critic)
    torch.manual_seed(0)
    x = generator(torch.randn(5, 100))
    assert x.shape == (5, *spec.shape)
    assert x.min() >= -1 and x.max() <= 1
    assert critic(x).shape == (5, 1)
    assert critic.features(x).shape == (5, critic.feature_dim)


def test_mlp_on_points_has_a_linear_output():
    generator, critic = build(mlp, POINTS)
    x = generator(torch.randn(7, 100))
    assert x.shape == (7, 2) and critic(x).shape == (7, 1) and critic.features(x).shape == (7, 256)
    assert not modules_of(generator, nn.Tanh)  # 2-D mixtures reach ±4


# --- mlp: today's exact layers ---------------------------------------------------------------


def pytorch_gan_mlps(latent, size):
    """PyTorch-GAN wgan.py's G and D as plain Sequentials (default BatchNorm eps)."""
    g = nn.Sequential(
        nn.Linear(latent, 128), nn.LeakyReLU(0.2),
        nn.Linear(128, 256), nn.BatchNorm1d(256), nn.LeakyReLU(0.2),
        nn.Linear(256, 512), nn.BatchNorm1d(512), nn.LeakyReLU(0.2),
        nn.Linear(512, 1024), nn.BatchNorm1d(1024), nn.LeakyReLU(0.2),
        nn.Linear(1024, size), nn.Tanh(),
    )
    d = nn.Sequential(nn.Linear(size, 512), nn.LeakyReLU(0.2), nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))
    return g, d


def test_mlp_matches_pytorch_gan_shapes_counts_and_initialisation():
    spec = DataSpec((1, 28, 28), "image")
    torch.manual_seed(3)
    generator, critic = build(mlp, spec)
    torch.manual_seed(3)
    ref_g, ref_d = pytorch_gan_mlps(100, 784)
    ref_g_params = list(ref_g.parameters())  # built in the same order: the same seed gives the same weights
    assert n_params(critic) == 533_505
    assert [p.shape for p in generator.parameters()] == [p.shape for p in ref_g_params]
    assert [p.shape for p in critic.parameters()] == [p.shape for p in ref_d.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(generator.parameters(), ref_g_params))
    assert all(torch.equal(a, b) for a, b in zip(critic.parameters(), ref_d.parameters()))
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    assert torch.allclose(critic(x), ref_d(x.flatten(1)))
    assert critic.head.in_features == 256 and all(m.eps == 1e-5 for m in modules_of(generator, nn.BatchNorm1d))


# --- toy: the WGAN-GP toy code's ReLU MLPs ---------------------------------------------------


def test_toy_matches_the_wgan_gp_toy_networks():
    """gan_toy.py: G 2 -> 512 -> 512 -> 512 -> 2 and D 2 -> 512 -> 512 -> 512 -> 1, ReLU, no norm."""
    generator, critic = build(toy, POINTS, latent_dim=2)
    linears = [(m.in_features, m.out_features) for m in modules_of(generator, nn.Linear)]
    assert linears == [(2, 512), (512, 512), (512, 512), (512, 2)]
    assert [(m.in_features, m.out_features) for m in modules_of(critic, nn.Linear)] == [(2, 512), (512, 512), (512, 512), (512, 1)]
    assert len(modules_of(generator, nn.ReLU)) == len(modules_of(critic, nn.ReLU)) == 3
    assert not modules_of(generator, NORMS) and not modules_of(critic, NORMS) and not modules_of(generator, nn.Tanh)
    assert n_params(generator) == 2 * 512 + 512 + 2 * (512 * 512 + 512) + 512 * 2 + 2
    x = generator(torch.randn(6, 2))
    assert x.shape == (6, 2) and critic(x).shape == (6, 1) and critic.features(x).shape == (6, 512)


def test_toy_width_and_depth_and_its_latent_default():
    from gankit.config import resolve_config
    from gankit.plugins import PluginSession

    generator, critic = build(toy, POINTS, toy_width=16, toy_depth=2, latent_dim=5)
    assert [m.out_features for m in modules_of(generator, nn.Linear)] == [16, 16, 2]
    assert [m.out_features for m in modules_of(critic, nn.Linear)] == [16, 16, 1]
    options = resolve_config(PluginSession(["wgan_gp", "toy"]), {}, {"data": "grid25"}).options
    assert (options["latent_dim"], options["toy_width"], options["toy_depth"]) == (2, 512, 3)


# --- dcgan: the five guidelines ------------------------------------------------------------


@pytest.mark.parametrize("image,stages", [("digits", 1), ("rgb32", 3), ("rgb64", 4)])
def test_dcgan_follows_radford_guidelines(image, stages):
    generator, critic = build(dcgan, IMAGES[image])
    g, d = list(generator.body), list(critic.body)
    for net in (generator, critic):  # 1. no pooling
        assert not [m for m in net.modules() if "Pool" in type(m).__name__]
    assert modules_of(generator, nn.Linear) == [g[0]]  # 3. only G's projection and D's head
    assert modules_of(critic, nn.Linear) == [critic.head]
    ups, downs = modules_of(generator, nn.ConvTranspose2d), modules_of(critic, nn.Conv2d)
    assert len(ups) == len(downs) == stages and not modules_of(generator, nn.Conv2d)
    assert not modules_of(critic, nn.ConvTranspose2d)
    for conv in ups + downs:
        assert (conv.kernel_size, conv.stride, conv.padding) == ((4, 4), (2, 2), (1, 1))
    # 2. BatchNorm after G's projection and every hidden up-stage, not on its output layer ...
    assert isinstance(g[2], nn.BatchNorm2d) and len(modules_of(generator, nn.BatchNorm2d)) == stages
    assert isinstance(g[-2], nn.ConvTranspose2d) and isinstance(g[-1], nn.Tanh)  # 4. Tanh output
    # ... and after every D convolution but the input layer.
    assert isinstance(d[1], nn.LeakyReLU)
    for i, layer in enumerate(d[2:], start=2):
        if isinstance(layer, nn.Conv2d):
            assert isinstance(d[i + 1], nn.BatchNorm2d)
    assert len(modules_of(critic, nn.BatchNorm2d)) == stages - 1
    assert modules_of(generator, nn.ReLU) and not modules_of(generator, nn.LeakyReLU)  # 4. ReLU in G
    relus = modules_of(critic, nn.LeakyReLU)  # 5. LeakyReLU(0.2) in D
    assert len(relus) == stages and all(m.negative_slope == 0.2 for m in relus)
    assert not modules_of(critic, nn.ReLU)


def test_dcgan_widths_halve_toward_the_output():
    generator, critic = build(dcgan, IMAGES["rgb64"])
    assert generator.body[0].out_features == 512 * 4 * 4
    assert [m.out_channels for m in modules_of(generator, nn.ConvTranspose2d)] == [256, 128, 64, 3]
    assert [m.out_channels for m in modules_of(critic, nn.Conv2d)] == [64, 128, 256, 512]
    assert critic.feature_dim == 512 * 16
    generator, critic = build(dcgan, DIGITS, dcgan_width=16)
    assert generator.body[0].out_features == 16 * 16 and critic.feature_dim == 16 * 16


def test_dcgan_weights_start_from_the_papers_normal():
    generator, critic = build(dcgan, IMAGES["rgb64"])
    weight = modules_of(critic, nn.Conv2d)[-1].weight
    assert abs(weight.std().item() - 0.02) < 0.001 and abs(weight.mean().item()) < 0.001
    assert abs(modules_of(generator, nn.BatchNorm2d)[0].weight.mean().item() - 1) < 0.01


@pytest.mark.parametrize("norm", ["batch", "layer", "none"])
def test_dcgan_critic_norm(norm):
    _, critic = build(dcgan, IMAGES["rgb32"], critic_norm=norm)
    kinds = {type(m) for m in modules_of(critic, NORMS)}
    assert kinds == {"batch": {nn.BatchNorm2d}, "layer": {nn.GroupNorm}, "none": set()}[norm]
    assert all(m.num_groups == 1 for m in modules_of(critic, nn.GroupNorm))  # LayerNorm over C, H, W
    x = torch.rand(6, 3, 32, 32) * 2 - 1
    alone = torch.allclose(critic.train()(x)[:2], critic(x[:2]), atol=1e-6)
    assert alone == (norm != "batch")  # per-sample scores: what a gradient penalty needs


# --- resnet ------------------------------------------------------------------------------------


@pytest.mark.parametrize("image,stages", [("digits", 1), ("rgb32", 3), ("rgb64", 4)])
def test_resnet_resamples_without_strides(image, stages):
    generator, critic = build(resnet, IMAGES[image])
    for net in (generator, critic):
        assert not modules_of(net, nn.ConvTranspose2d)
        for conv in modules_of(net, nn.Conv2d):
            assert conv.stride == (1, 1) and conv.kernel_size in ((3, 3), (1, 1))
    ups = modules_of(generator, nn.Upsample)
    assert len(ups) == 2 * stages and all(m.mode == "nearest" and m.scale_factor == 2 for m in ups)
    assert len(modules_of(critic, nn.AvgPool2d)) == 2 * stages and not modules_of(critic, nn.Upsample)
    assert not modules_of(critic, NORMS)  # gradient penalties stay valid
    assert len(modules_of(generator, Residual)) == len(modules_of(critic, Residual)) == stages
    assert isinstance(generator.body[-1], nn.Tanh)
    assert isinstance(critic.body[0].branch[0], nn.Conv2d)  # no ReLU on the raw [-1, 1] image
    x = torch.rand(2, *IMAGES[image].shape) * 2 - 1
    maps = critic.body[:-1](x)  # after the last ReLU: (B, C, 4, 4)
    assert maps.shape == (2, 64, 4, 4) and torch.allclose(critic.features(x), maps.sum(dim=(2, 3)))  # global sum pool


@pytest.mark.parametrize("role", ["generator", "critic"])
def test_resnet_block_is_shortcut_plus_scaled_branch(role):
    generator, critic = build(resnet, DIGITS, residual_scale=0.7)
    net = generator if role == "generator" else critic
    block = modules_of(net, Residual)[0]
    assert block.scale == 0.7
    x = torch.randn(3, 64, 4, 4) if role == "generator" else torch.rand(3, 1, 8, 8) * 2 - 1
    expected = block.shortcut(x) + 0.7 * block.branch(x)
    assert torch.allclose(block(x), expected, atol=1e-6)
    assert not torch.allclose(block(x), block.shortcut(x) + block.branch(x), atol=1e-4)
    last_conv = modules_of(block.branch, nn.Conv2d)[-1]
    with torch.no_grad():
        last_conv.weight.zero_()
        last_conv.bias.zero_()
    assert torch.equal(block(x), block.shortcut(x))


# --- conditional GANs --------------------------------------------------------------------------

CASES = [("mlp", "digits"), ("mlp", "points"), ("dcgan", "digits"), ("resnet", "digits"), ("dcgan", "rgb32"),
         ("toy", "points")]


def spec_of(data):
    return POINTS if data == "points" else IMAGES[data]


@pytest.mark.parametrize("name,data", CASES)
def test_conditional_generator_depends_on_the_label(name, data):
    spec = spec_of(data)
    generator, _ = build(ARCHS[name], spec, conditional=True)
    generator.eval()
    z = torch.randn(4, 100)
    a, b = generator(z, torch.zeros(4, dtype=torch.long)), generator(z, torch.ones(4, dtype=torch.long))
    assert a.shape == (4, *spec.shape) and not torch.allclose(a, b)
    with pytest.raises(ValueError, match="conditional on .* classes: pass labels y"):
        generator(z)


@pytest.mark.parametrize("conditioning", ["projection", "concat"])
@pytest.mark.parametrize("name,data", CASES)
def test_conditional_critic_depends_on_the_label(name, data, conditioning):
    spec = spec_of(data)
    generator, critic = build(ARCHS[name], spec, conditional=True, conditioning=conditioning)
    critic.eval()
    y = labels(4, spec.n_classes)
    x = generator(torch.randn(4, 100), y).detach()
    a, b = critic(x, y), critic(x, (y + 1) % spec.n_classes)
    assert a.shape == (4, 1) and not torch.allclose(a, b)
    with pytest.raises(ValueError, match="pass labels y"):
        critic(x)
    loss = critic(generator(torch.randn(4, 100), y), y).mean()
    loss.backward()  # every parameter of both nets takes part
    assert all(p.grad is not None for p in [*generator.parameters(), *critic.parameters()])


def test_projection_is_miyato_koyama_eq3():
    _, critic = build(dcgan, DIGITS, conditional=True)
    x, y = torch.rand(5, 1, 8, 8) * 2 - 1, labels(5, 10)
    critic.eval()
    h = critic.features(x, y)
    assert torch.allclose(critic(x, y), critic.head(h) + (critic.embed.weight[y] * h).sum(1, keepdim=True), atol=1e-6)
    assert critic.embed.weight.shape == (10, critic.feature_dim)


def test_concat_widens_the_critic_input():
    assert critic_in_shape(DIGITS, 10, "concat") == (11, 8, 8)
    assert critic_in_shape(POINTS, 8, "concat") == (10,)
    assert critic_in_shape(DIGITS, 10, "projection") == critic_in_shape(DIGITS, None, "concat") == (1, 8, 8)
    _, critic = build(dcgan, DIGITS, conditional=True, conditioning="concat")
    assert critic.embed is None and critic.body[0].in_channels == 11
    _, critic = build(mlp, POINTS, conditional=True, conditioning="concat")
    assert critic.body[1].in_features == 10
    # the K label channels are constant one-hot maps: label k lights channel C + k everywhere
    seen = []
    _, critic = build(resnet, DIGITS, conditional=True, conditioning="concat")
    critic.body.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    x = torch.rand(2, 1, 8, 8)
    critic(x, torch.tensor([3, 7]))
    widened = seen[-1]
    assert widened.shape == (2, 11, 8, 8) and torch.equal(widened[:, :1], x)
    assert torch.equal(widened[0, 1:].sum(dim=(1, 2)), torch.eye(10)[3] * 64)
    assert torch.equal(widened[1, 1:].sum(dim=(1, 2)), torch.eye(10)[7] * 64)


def test_unconditional_nets_refuse_labels_and_conditional_classes():
    generator, critic = build(mlp, POINTS)
    y = torch.zeros(2, dtype=torch.long)
    for call in (lambda: generator(torch.randn(2, 100), y), lambda: critic(torch.randn(2, 2), y)):
        with pytest.raises(ValueError, match="unconditional: call it without labels"):
            call()
    with pytest.raises(ValueError, match="conditioning must be one of projection, concat"):
        Critic(nn.Identity(), 4, 3, conditioning="hinge")
    assert conditional_classes(DIGITS, {"conditional": False}) is None
    assert conditional_classes(DIGITS, {}) is None
    assert conditional_classes(DIGITS, {"conditional": True}) == 10
    unlabelled = DataSpec((2,), "points")
    with pytest.raises(GankitError, match="option conditional: data swissroll has no labels"):
        conditional_classes(unlabelled, {"conditional": True, "data": "swissroll"})
    with pytest.raises(GankitError, match="no labels"):
        mlp.gankit_generator(spec=unlabelled, options=options_for(mlp, conditional=True))


# --- bad data -----------------------------------------------------------------------------------


@pytest.mark.parametrize("hook", ["gankit_generator", "gankit_critic"])
@pytest.mark.parametrize("name", ["dcgan", "resnet"])
@pytest.mark.parametrize(
    "spec,data,described",
    [
        (DataSpec((2,), "points", 8), "ring8", "data ring8 has points of shape (2,)"),
        (DataSpec((1, 10, 10), "image"), "tens", "data tens has images of shape (1, 10, 10)"),
        (DataSpec((3, 8, 16), "image"), "wide", "data wide has images of shape (3, 8, 16)"),
        (DataSpec((3, 4, 4), "image"), "tiny", "data tiny has images of shape (3, 4, 4)"),
        (DataSpec((3, 24, 24), "image"), "odd", "data odd has images of shape (3, 24, 24)"),
    ],
)
def test_convolutional_nets_reject_unsupported_data(name, hook, spec, data, described):
    with pytest.raises(GankitError) as error:
        getattr(ARCHS[name], hook)(spec=spec, options=options_for(ARCHS[name], data=data))
    assert str(error.value) == f"{name} needs square images of side 4·2^k (8, 16, 32, 64...); {described}"


# --- declarations and import cost ------------------------------------------------------------


def test_declared_options():
    table = declare([(name, arch.gankit_options()) for name, arch in ARCHS.items() if hasattr(arch, "gankit_options")])
    assert {name: entry.option.default for name, entry in table.items()} == {
        "dcgan_width": 64, "critic_norm": "batch", "resnet_width": 64, "residual_scale": 0.3, "toy_width": 512, "toy_depth": 3,
    }
    assert table["critic_norm"].option.choices == ("batch", "layer", "none")
    with pytest.raises(GankitError, match="option critic_norm: expected one of batch, layer, none"):
        table["critic_norm"].option.convert("spectral")


@pytest.mark.parametrize("name", ARCHS)
def test_plugin_modules_import_without_torch(name):
    code = (
        f"import sys; import gankit_plugins.{name} as m; getattr(m, 'gankit_options', list)(); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
