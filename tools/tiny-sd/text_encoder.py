"""A small text encoder in the shape of CLIP's text model (transformers' CLIPTextModel is not installed here).

Same structure and names as CLIPTextModel: token + position embeddings, pre-LayerNorm transformer layers with a
causal mask and quick-GELU MLPs, a final LayerNorm; outputs last_hidden_state [B, 77, width] and pooler_output (the
row at the first end-of-text token, argmax of the ids, as CLIP with eos_token_id 2 does)."""
import math

import torch
from torch import nn


class ClipLayer(nn.Module):
    def __init__(self, width, heads, mlp):
        super().__init__()
        self.heads = heads
        self.layer_norm1 = nn.LayerNorm(width)
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(width, width) for _ in range(4))
        self.layer_norm2 = nn.LayerNorm(width)
        self.fc1, self.fc2 = nn.Linear(width, mlp), nn.Linear(mlp, width)

    def forward(self, x, mask):
        b, s, w = x.shape
        h = self.layer_norm1(x)
        split = lambda t: t.reshape(b, s, self.heads, w // self.heads).transpose(1, 2)
        q, k, v = split(self.q_proj(h)), split(self.k_proj(h)), split(self.v_proj(h))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(w // self.heads) + mask, dim=-1)
        x = x + self.out_proj((att @ v).transpose(1, 2).reshape(b, s, w))
        h = self.fc1(self.layer_norm2(x))
        return x + self.fc2(h * torch.sigmoid(1.702 * h))  # quick_gelu


class TinyClipTextModel(nn.Module):
    def __init__(self, vocab_size=49408, width=64, layers=2, heads=4, mlp=256, positions=77):
        super().__init__()
        self.config = dict(vocab_size=vocab_size, hidden_size=width, num_hidden_layers=layers, num_attention_heads=heads,
                           intermediate_size=mlp, max_position_embeddings=positions)
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.position_embedding = nn.Embedding(positions, width)
        self.layers = nn.ModuleList(ClipLayer(width, heads, mlp) for _ in range(layers))
        self.final_layer_norm = nn.LayerNorm(width)
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.position_embedding.weight, std=0.01)
        mask = torch.full((positions, positions), float("-inf")).triu(1)
        self.register_buffer("causal_mask", mask, persistent=False)

    def embed_tokens(self, input_ids):
        return self.token_embedding(input_ids)

    def forward(self, input_ids):
        s = input_ids.shape[1]
        x = self.embed_tokens(input_ids) + self.position_embedding.weight[:s]
        mask = self.causal_mask[:s, :s]
        for layer in self.layers:
            x = layer(x, mask)
        x = self.final_layer_norm(x)
        pooled = x[torch.arange(x.shape[0]), input_ids.to(torch.int64).argmax(dim=-1)]
        return x, pooled


class HalfEmbeddingExport(nn.Module):
    """For export: the token table stored in float16 (it is most of the file) and widened after the lookup."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.register_buffer("table16", model.token_embedding.weight.detach().half())

    def forward(self, input_ids):
        self.model.embed_tokens = lambda ids: nn.functional.embedding(ids.to(torch.int64), self.table16).float()
        try:
            return self.model(input_ids)
        finally:
            del self.model.embed_tokens
