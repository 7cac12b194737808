"""Schemathesis hooks of the API contract (scripts/contract sets SCHEMATHESIS_HOOKS to this).

`application/x-tar` (the build context of `POST /v1/templates`) has no serializer in
schemathesis: its bodies are drawn here, as tars holding a Dockerfile (of fixed or generated
text) and as arbitrary bytes, which must be refused cleanly.
"""

import io
import tarfile

import schemathesis
from hypothesis import strategies as st


def _tar(dockerfile: str) -> bytes:
    data = dockerfile.encode()
    info = tarfile.TarInfo("Dockerfile")
    info.size = len(data)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


schemathesis.openapi.media_type(
    "application/x-tar",
    st.one_of(
        st.sampled_from(["FROM scratch\n", "FROM scratch\nENV A=1\n"]).map(_tar),
        st.text(max_size=200).map(_tar),
        st.binary(max_size=2048),
    ),
)
