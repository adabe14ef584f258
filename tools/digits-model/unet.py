"""A small class-conditional UNet for 28x28 digits (epsilon prediction).

Three resolutions (28, 14, 7), GroupNorm + SiLU residual blocks, a
sinusoidal embedding of the (float) timestep plus a learned embedding of
the class label with 11 entries (0..9 digits, 10 = unconditional),
self-attention at 7x7. Only plain ops, so it exports to ONNX opset 17 and
runs on torch 1.13."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def timestep_embedding(t, dim, max_period=10000.0):
    """Sinusoidal embedding of float timesteps t [B] -> [B, dim] (cos, sin)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


def norm(c):
    groups = next(g for g in (32, 16, 8, 4, 2, 1) if c % g == 0 and c // g >= 2)
    return nn.GroupNorm(groups, c)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, emb_dim, dropout):
        super().__init__()
        self.norm1 = norm(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * cout)  # scale and shift
        self.norm2 = norm(cout)
        self.drop = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb(F.silu(emb))[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.drop(F.silu(h)))
        return self.skip(x) + h


class Attention(nn.Module):
    def __init__(self, c, heads=4):
        super().__init__()
        self.heads = heads
        self.norm = norm(c)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.proj = nn.Conv2d(c, c, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x):
        b, c, h, w = x.shape
        qkv = self.qkv(self.norm(x)).reshape(b * self.heads, 3 * c // self.heads, h * w)
        q, k, v = qkv.chunk(3, dim=1)  # [b*heads, d, n]
        d = c // self.heads
        attn = torch.softmax(torch.bmm(q.transpose(1, 2), k) * (d ** -0.5), dim=-1)  # [bh, n, n]
        out = torch.bmm(v, attn.transpose(1, 2)).reshape(b, c, h, w)
        return x + self.proj(out)


class DigitsUNet(nn.Module):
    def __init__(self, channels=(64, 128, 128), num_res=2, attn_levels=(2,), dropout=0.1,
                 num_classes=10, heads=4):
        super().__init__()
        self.config = dict(channels=list(channels), num_res=num_res, attn_levels=list(attn_levels),
                           dropout=dropout, num_classes=num_classes, heads=heads)
        c0 = channels[0]
        self.temb_dim = c0
        emb_dim = 4 * c0
        self.time_mlp = nn.Sequential(nn.Linear(c0, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.label_emb = nn.Embedding(num_classes + 1, emb_dim)  # index num_classes = unconditional
        self.conv_in = nn.Conv2d(1, c0, 3, padding=1)

        self.down = nn.ModuleList()
        skips = [c0]
        cur = c0
        for lvl, ch in enumerate(channels):
            for _ in range(num_res):
                blk = nn.ModuleList([ResBlock(cur, ch, emb_dim, dropout)])
                if lvl in attn_levels:
                    blk.append(Attention(ch, heads))
                self.down.append(blk)
                cur = ch
                skips.append(cur)
            if lvl != len(channels) - 1:
                self.down.append(nn.ModuleList([nn.Conv2d(cur, cur, 3, stride=2, padding=1)]))
                skips.append(cur)

        self.mid1 = ResBlock(cur, cur, emb_dim, dropout)
        self.mid_attn = Attention(cur, heads)
        self.mid2 = ResBlock(cur, cur, emb_dim, dropout)

        self.up = nn.ModuleList()
        for lvl in reversed(range(len(channels))):
            ch = channels[lvl]
            for _ in range(num_res + 1):
                blk = nn.ModuleList([ResBlock(cur + skips.pop(), ch, emb_dim, dropout)])
                if lvl in attn_levels:
                    blk.append(Attention(ch, heads))
                self.up.append(blk)
                cur = ch
            if lvl != 0:
                self.up.append(nn.ModuleList([nn.Upsample(scale_factor=2, mode="nearest"),
                                              nn.Conv2d(cur, cur, 3, padding=1)]))
        self.norm_out = norm(cur)
        self.conv_out = nn.Conv2d(cur, 1, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, sample, timestep, class_labels):
        emb = self.time_mlp(timestep_embedding(timestep, self.temb_dim)) + self.label_emb(class_labels)
        h = self.conv_in(sample)
        hs = [h]
        for blk in self.down:
            if isinstance(blk[0], ResBlock):
                h = blk[0](h, emb)
                for extra in blk[1:]:
                    h = extra(h)
            else:
                h = blk[0](h)
            hs.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for blk in self.up:
            if isinstance(blk[0], ResBlock):
                h = blk[0](torch.cat([h, hs.pop()], dim=1), emb)
                for extra in blk[1:]:
                    h = extra(h)
            else:
                h = blk[1](blk[0](h))
        return self.conv_out(F.silu(self.norm_out(h)))


def count_params(m):
    return sum(p.numel() for p in m.parameters())
