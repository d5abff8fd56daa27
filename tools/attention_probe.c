// Raw oneDNN 2.6.3 probe behind docs/int8.md (session 11): MiniLM-L6's self-attention at batch 32 × 128 tokens
// (12 heads of 32), the three primitives TransferKit's `Tensor.packedSelfAttention` runs per layer: the scores
// matmul Q·Kᵀ (scale as output scale, the additive mask as a broadcast binary post-op), the softmax, and the context
// matmul P·V written into the heads' columns of [B, T, 384]. Q, K and V are read through strides from the packed
// [B·T, 1152] projection ("strided", what TransferKit does) or from head-major copies ("packed", plus the reorders
// that make them). Data types: fp32 (today's int8 MiniLM), bf16 (TransferKit's bf16 inference), and int8 (s8 Q, K,
// V; u8 probabilities). Prints each primitive's implementation and median ms of R runs after one warm-up.
// build and run: gcc -O2 tools/attention_probe.c -o /tmp/attention_probe -ldnnl && OMP_NUM_THREADS=2 /tmp/attention_probe 9
#include <dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static dnnl_engine_t eng; static dnnl_stream_t st;
#define CK(x) do{dnnl_status_t s_=(x); if(s_!=dnnl_success){fprintf(stderr,"fail %s %d line %d\n",#x,s_,__LINE__);exit(1);}}while(0)
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static void* buf(size_t bytes){unsigned char*p=aligned_alloc(64,(bytes+63)/64*64+64); for(size_t i=0;i<bytes;i++) p[i]=(unsigned char)((i*37)&0x1f); return p;}
static dnnl_memory_t mem(const dnnl_memory_desc_t*d,void*p){dnnl_memory_t m; CK(dnnl_memory_create(&m,d,eng,p)); return m;}
static dnnl_memory_desc_t strided(int nd,const dnnl_dim_t*dims,const dnnl_dim_t*strides,dnnl_data_type_t t){
  dnnl_memory_desc_t d; CK(dnnl_memory_desc_init_by_strides(&d,nd,dims,t,strides)); return d;}
static dnnl_memory_desc_t tag(int nd,const dnnl_dim_t*dims,dnnl_data_type_t t,dnnl_format_tag_t f){
  dnnl_memory_desc_t d; CK(dnnl_memory_desc_init_by_tag(&d,nd,dims,t,f)); return d;}
static const char* impl(const_dnnl_primitive_desc_t pd){const char*s; dnnl_primitive_desc_query(pd,dnnl_query_impl_info_str,0,&s); return s;}
typedef struct {dnnl_primitive_t p; dnnl_exec_arg_t a[6]; int n; char name[48];} run_t;
static double t1(run_t*r){double t=now(); CK(dnnl_primitive_execute(r->p,st,r->n,r->a)); CK(dnnl_stream_wait(st)); return now()-t;}
static int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
static double median(run_t*r,int R){double t[64]; t1(r); for(int i=0;i<R;i++) t[i]=t1(r); qsort(t,R,sizeof*t,cmp); return t[R/2]*1e3;}

enum{B=32,H=12,T=128,D=32,HID=384,W=1152};
static dnnl_primitive_attr_t attr(float scale,const dnnl_memory_desc_t*mask){
  dnnl_primitive_attr_t a; CK(dnnl_primitive_attr_create(&a));
  if(scale!=1.f) CK(dnnl_primitive_attr_set_output_scales(a,1,0,&scale));
  if(mask){dnnl_post_ops_t ops; CK(dnnl_post_ops_create(&ops)); CK(dnnl_post_ops_append_binary(ops,dnnl_binary_add,mask));
    CK(dnnl_primitive_attr_set_post_ops(a,ops)); dnnl_post_ops_destroy(ops);}
  return a;}
static int matmul(run_t*r,dnnl_memory_desc_t s,dnnl_memory_desc_t w,dnnl_memory_desc_t d,dnnl_primitive_attr_t a,
                  void*sp,void*wp,void*dp,const dnnl_memory_desc_t*mask,void*mp){
  dnnl_matmul_desc_t op; dnnl_primitive_desc_t pd; dnnl_status_t e=dnnl_matmul_desc_init(&op,&s,&w,NULL,&d);
  if(e==dnnl_success) e=dnnl_primitive_desc_create(&pd,&op,a,eng,NULL);
  dnnl_primitive_attr_destroy(a);
  if(e!=dnnl_success){snprintf(r->name,48,"(unimplemented %d)",e); return 0;}
  CK(dnnl_primitive_create(&r->p,pd)); snprintf(r->name,48,"%s",impl(pd)); dnnl_primitive_desc_destroy(pd);
  r->n=3; r->a[0]=(dnnl_exec_arg_t){DNNL_ARG_SRC,mem(&s,sp)}; r->a[1]=(dnnl_exec_arg_t){DNNL_ARG_WEIGHTS,mem(&w,wp)};
  r->a[2]=(dnnl_exec_arg_t){DNNL_ARG_DST,mem(&d,dp)};
  if(mask){r->a[3]=(dnnl_exec_arg_t){DNNL_ARG_ATTR_MULTIPLE_POST_OP(0)|DNNL_ARG_SRC_1,mem(mask,mp)}; r->n=4;}
  return 1;}
static int softmax(run_t*r,dnnl_memory_desc_t s,dnnl_memory_desc_t d,float scale,void*sp,void*dp){
  dnnl_softmax_v2_desc_t op; dnnl_primitive_desc_t pd; dnnl_primitive_attr_t a; CK(dnnl_primitive_attr_create(&a));
  if(scale!=1.f) CK(dnnl_primitive_attr_set_output_scales(a,1,0,&scale));
  CK(dnnl_softmax_v2_forward_desc_init(&op,dnnl_forward_inference,dnnl_softmax_accurate,&s,&d,3));
  dnnl_status_t e=dnnl_primitive_desc_create(&pd,&op,a,eng,NULL); dnnl_primitive_attr_destroy(a);
  if(e!=dnnl_success){snprintf(r->name,48,"(unimplemented %d)",e); return 0;}
  CK(dnnl_primitive_create(&r->p,pd)); snprintf(r->name,48,"%s",impl(pd)); dnnl_primitive_desc_destroy(pd);
  r->n=2; r->a[0]=(dnnl_exec_arg_t){DNNL_ARG_SRC,mem(&s,sp)}; r->a[1]=(dnnl_exec_arg_t){DNNL_ARG_DST,mem(&d,dp)}; return 1;}
static int reorder(run_t*r,dnnl_memory_desc_t s,dnnl_memory_desc_t d,void*sp,void*dp){
  dnnl_primitive_desc_t pd; if(dnnl_reorder_primitive_desc_create(&pd,&s,eng,&d,eng,NULL)!=dnnl_success){snprintf(r->name,48,"(unimplemented)");return 0;}
  CK(dnnl_primitive_create(&r->p,pd)); snprintf(r->name,48,"%s",impl(pd)); dnnl_primitive_desc_destroy(pd);
  r->n=2; r->a[0]=(dnnl_exec_arg_t){DNNL_ARG_FROM,mem(&s,sp)}; r->a[1]=(dnnl_exec_arg_t){DNNL_ARG_TO,mem(&d,dp)}; return 1;}
static size_t sz(dnnl_data_type_t t){return t==dnnl_f32?4:t==dnnl_bf16?2:1;}
static const char* tn(dnnl_data_type_t t){return t==dnnl_f32?"f32":t==dnnl_bf16?"bf16":t==dnnl_s8?"s8":"u8";}

// One configuration: q/k/v type, probabilities type, context type; packed = head-major copies of Q, K, V.
static void probe(dnnl_data_type_t qkv,dnnl_data_type_t probs,dnnl_data_type_t ctx,int packed,int masked,int R){
  size_t e=sz(qkv); char*base=buf((size_t)B*T*W*e); float*scores=buf((size_t)B*H*T*T*4); void*pb=buf((size_t)B*H*T*T*sz(probs));
  void*out=buf((size_t)B*T*HID*sz(ctx)); float*maskp=buf(B*T*4); memset(maskp,0,B*T*4);
  char*heads=packed?buf((size_t)3*B*H*T*D*e):NULL;
  dnnl_dim_t hd[4]={B,H,T,D}, kd[4]={B,H,D,T}, sd[4]={B,H,T,T}, md_[4]={B,1,1,T};
  dnnl_dim_t hs[4]={(dnnl_dim_t)T*W,D,W,1}, ks[4]={(dnnl_dim_t)T*W,D,1,W}, cs[4]={(dnnl_dim_t)T*HID,D,HID,1};
  dnnl_dim_t ps[4]={(dnnl_dim_t)H*T*D,(dnnl_dim_t)T*D,D,1}, pks[4]={(dnnl_dim_t)H*T*D,(dnnl_dim_t)T*D,1,D};
  dnnl_memory_desc_t qd=strided(4,hd,packed?ps:hs,qkv), ktd=strided(4,kd,packed?pks:ks,qkv), scd=tag(4,sd,dnnl_f32,dnnl_abcd);
  dnnl_memory_desc_t prd=tag(4,sd,probs,dnnl_abcd), cd=strided(4,hd,cs,ctx), mkd=tag(4,md_,dnnl_f32,dnnl_abcd);
  char*q=packed?heads:base, *k=packed?heads+(size_t)B*H*T*D*e:base+HID*e, *v=packed?heads+(size_t)2*B*H*T*D*e:base+2*HID*e;
  run_t rs,rx,rc,rp; double ts=-1,tx=-1,tc=-1,tp=0;
  float pscale=probs==dnnl_u8?255.f:1.f, cscale=probs==dnnl_u8?1.f/255:1.f;
  if(matmul(&rs,qd,ktd,scd,attr(0.177f,masked?&mkd:NULL),q,k,scores,masked?&mkd:NULL,maskp)) ts=median(&rs,R);
  if(softmax(&rx,scd,prd,pscale,scores,pb)) tx=median(&rx,R);
  dnnl_memory_desc_t vd=strided(4,hd,packed?ps:hs,qkv);
  if(matmul(&rc,prd,vd,cd,attr(cscale,NULL),pb,v,out,NULL,NULL)) tc=median(&rc,R);
  if(packed){ // the three head-major copies from the packed projection
    dnnl_memory_desc_t from=strided(4,hd,hs,qkv), to=strided(4,hd,ps,qkv);
    if(reorder(&rp,from,to,base,heads)) tp=3*median(&rp,R); else tp=-1; }
  printf("| %s%s | %s | %s | %s | %s %.2f | %s %.2f | %s %.2f | %s %.2f | %.2f |\n",packed?"packed":"strided",masked?"":" no mask",tn(qkv),tn(probs),tn(ctx),
         rs.name,ts,rx.name,tx,rc.name,tc,packed?rp.name:"-",tp,ts+tx+tc+tp);
  fflush(stdout);
}

int main(int argc,char**argv){
  int R=argc>1?atoi(argv[1]):9; if(R>63)R=63;
  CK(dnnl_engine_create(&eng,dnnl_cpu,0)); CK(dnnl_stream_create(&st,eng,dnnl_stream_default_flags));
  printf("| layout | Q/K/V | probs | context | scores impl ms | softmax impl ms | context impl ms | head copies ms | total ms |\n|---|---|---|---|---|---|---|---|---|\n");
  for(int masked=1;masked>=0;masked--) for(int packed=0;packed<2;packed++){
    probe(dnnl_f32,dnnl_f32,dnnl_f32,packed,masked,R);
    probe(dnnl_bf16,dnnl_bf16,dnnl_bf16,packed,masked,R);
    probe(dnnl_s8,dnnl_u8,dnnl_f32,packed,masked,R);
    probe(dnnl_s8,dnnl_u8,dnnl_s8,packed,masked,R);
  }
  return 0;
}
