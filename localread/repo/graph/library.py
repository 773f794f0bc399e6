"""What names outside the repository mean to the resolver: the library tables.

Each table is matched against the dotted name an external resolves to (`torch.nn.Module`,
`builtins.list`). To teach the resolver a library convention, add the name here; the
code that reads each table is named in its comment.
"""

from __future__ import annotations

import builtins

from localread.repo.graph.atoms import DICT, ITER, SEQ, VALUES, WRAP

# Names Python defines in every module, `builtins.<name>` (scopes.lookup).
BUILTINS = frozenset(dir(builtins))

# Methods that add to what a container holds, `x.method(...)`: the argument that is
# added, and the ops from that argument to the container (bind.mutation).
MUTATORS = {
    "append": (0, ((WRAP, SEQ),)),
    "add": (0, ((WRAP, SEQ),)),
    "extend": (0, ((ITER,), (WRAP, SEQ))),
    "insert": (1, ((WRAP, SEQ),)),
    "update": (0, ((VALUES,), (WRAP, DICT))),
    "setdefault": (1, ((WRAP, DICT),)),
}

# Methods an nn.Module inherits that return the module itself (wrappers keep the type;
# calls.call_result).
SELF_RETURNING = frozenset({
    "to", "cuda", "cpu", "eval", "train", "half", "float", "double", "bfloat16",
    "requires_grad_", "share_memory", "apply", "type", "xpu", "to_empty",
})
# External bases that make a class an nn.Module: calling an instance runs forward
# (is_module_base).
MODULE_BASES = frozenset({
    "torch.nn.Module", "torch.nn.modules.module.Module",
    "pytorch_lightning.LightningModule", "pytorch_lightning.core.LightningModule",
    "pytorch_lightning.core.module.LightningModule", "lightning.LightningModule",
    "lightning.pytorch.LightningModule", "lightning.pytorch.core.LightningModule",
    "transformers.PreTrainedModel", "transformers.modeling_utils.PreTrainedModel",
    "diffusers.ModelMixin", "diffusers.models.modeling_utils.ModelMixin",
})
# Wrappers whose `.module` is what they wrap (calls.external_call).
DP_WRAPPERS = frozenset({
    "torch.nn.DataParallel", "torch.nn.parallel.DataParallel",
    "torch.nn.parallel.DistributedDataParallel", "torch.nn.parallel.distributed.DistributedDataParallel",
    "torch.nn.parallel.data_parallel.DataParallel",
    "torch.distributed.fsdp.FullyShardedDataParallel", "apex.parallel.DistributedDataParallel",
})
# Calls that return (something that behaves as) their first argument (calls.external_call).
IDENTITY = frozenset({
    "torch.compile", "torch.jit.script", "torch.jit.trace", "copy.deepcopy", "copy.copy",
    "torch.nn.SyncBatchNorm.convert_sync_batchnorm", "torch.nn.utils.spectral_norm",
    "torch.nn.utils.weight_norm", "torch.nn.utils.parametrizations.spectral_norm",
    "torch.nn.utils.parametrizations.weight_norm", "functools.partial", "builtins.staticmethod",
    "builtins.classmethod", "functools.lru_cache", "functools.cache", "typing.cast",
})
# Containers of modules built from their arguments (calls.external_call).
MODULE_LIST = frozenset({"torch.nn.ModuleList", "torch.nn.modules.container.ModuleList"})
SEQUENTIAL = frozenset({"torch.nn.Sequential", "torch.nn.modules.container.Sequential"})
SEQ_BUILTINS = frozenset({
    "builtins.list", "builtins.tuple", "builtins.set", "builtins.frozenset", "builtins.sorted",
    "builtins.reversed", "builtins.iter", "collections.deque",
})
# Functions that return the object a dotted string names: repo helpers by name (the
# latent-diffusion family's), and library ones.
OBJECT_FROM_STRING = frozenset({"get_obj_from_str", "get_class_from_str", "locate_class"})
OBJECT_FROM_STRING_EXTERNAL = frozenset({"pydoc.locate", "hydra.utils.get_class", "hydra.utils.get_method"})
# Config files (configured): calls that read a YAML file into its root node; calls that
# return the configs they are given; repo helpers by name (the latent-diffusion
# family's) and library calls that build what a config's `target:` / `_target_:` names.
CONFIG_LOADERS = frozenset({
    "omegaconf.OmegaConf.load", "omegaconf.omegaconf.OmegaConf.load", "yaml.safe_load", "yaml.load",
    "yaml.full_load", "yaml.unsafe_load",
})
CONFIG_PASSING = frozenset({
    "omegaconf.OmegaConf.merge", "omegaconf.omegaconf.OmegaConf.merge", "omegaconf.OmegaConf.create",
    "omegaconf.OmegaConf.to_container", "omegaconf.OmegaConf.structured",
})
CONFIG_BUILDERS = frozenset({"instantiate_from_config"})
CONFIG_BUILDERS_EXTERNAL = frozenset({"hydra.utils.instantiate", "hydra.utils.call"})
MODULE_DICT = frozenset({"torch.nn.ModuleDict", "torch.nn.modules.container.ModuleDict"})
DICT_BUILTINS = frozenset({
    "builtins.dict", "collections.OrderedDict", "collections.defaultdict", "torch.nn.ModuleDict",
    "torch.nn.modules.container.ModuleDict",
})
# External callables whose result depends on their arguments: calls.external_call reads
# the call's arguments for these only (and for `accelerate.*.prepare`).
NEEDS_ARGS = (
    IDENTITY | DP_WRAPPERS | MODULE_LIST | SEQUENTIAL | SEQ_BUILTINS | DICT_BUILTINS
    | frozenset({
        "builtins.enumerate", "builtins.zip", "builtins.next", "builtins.getattr", "builtins.super",
        "builtins.type", "builtins.vars", "builtins.globals", "importlib.import_module",
        *OBJECT_FROM_STRING_EXTERNAL, *CONFIG_LOADERS, *CONFIG_PASSING, *CONFIG_BUILDERS_EXTERNAL,
    })
)

# Annotations (expressions.annotation_types): modules whose generics are understood,
# and the generic names by what they declare.
TYPING_MODULES = ("typing.", "typing_extensions.", "builtins.", "collections.abc.", "collections.")
ANN_SEQ = frozenset({
    "List", "Sequence", "Iterable", "Iterator", "Set", "FrozenSet", "Collection", "MutableSequence",
    "list", "set", "frozenset", "Deque", "deque", "Generator", "MutableSet", "AbstractSet",
})
ANN_DICT = frozenset({
    "Dict", "Mapping", "MutableMapping", "dict", "OrderedDict", "DefaultDict", "defaultdict",
})
ANN_SAME = frozenset({"Annotated", "ClassVar", "Final", "Required", "NotRequired", "ReadOnly"})

# Methods of lists, dicts and tuples that the resolver follows (members.attribute,
# calls.container_call).
CONTAINER_METHODS = frozenset({
    "get", "pop", "setdefault", "values", "items", "keys", "copy", "append", "extend", "insert",
    "add", "update", "remove", "clear", "index", "count", "sort", "reverse", "popitem", "discard",
})
# Decorators that make a method read as an attribute (scopes.Scope.property).
PROPERTY_DECORATORS = ("property", "cached_property")


def is_module_base(dotted: str) -> bool:
    """Whether an external base class makes a class an nn.Module (members.linearize)."""
    return dotted in MODULE_BASES or (dotted.startswith("torch.nn.") and dotted != "torch.nn.Parameter")


def is_accelerate_prepare(dotted: str) -> bool:
    """`accelerator.prepare(model, optimizer, ...)` returns its arguments, wrapped."""
    return dotted.startswith("accelerate.") and dotted.endswith(".prepare")
