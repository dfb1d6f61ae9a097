#version 330 core
// A quad drawn from gl_VertexID alone (no vertex buffer): the image rectangle in NDC.
// v_uv runs 0..1 across the image with (0, 0) at its TOP-left, because row 0 of the uploaded
// array is the top row of the picture and becomes texel row 0 (t = 0).
uniform vec4 u_rect;       // x0, y0, x1, y1 in NDC (y0 bottom)
uniform vec4 u_uv_window;  // u0, v0, u1, v1: the part of the picture shown (magnifier)
uniform mat3 u_orient;     // shown picture (u, v) -> stored texture (s, t): EXIF orientation
out vec2 v_uv;             // position in the texture
out vec2 v_quad;           // position in the quad, 0..1, top-left origin

void main() {
    vec2 corner = vec2(float(gl_VertexID & 1), float((gl_VertexID >> 1) & 1));
    vec2 ndc = mix(u_rect.xy, u_rect.zw, corner);
    v_quad = vec2(corner.x, 1.0 - corner.y);
    // the maps of the eight orientations are affine: exact when interpolated per vertex
    v_uv = (u_orient * vec3(mix(u_uv_window.xy, u_uv_window.zw, v_quad), 1.0)).xy;
    gl_Position = vec4(ndc, 0.0, 1.0);
}
