"""Embedded, deterministic biomedical demo corpus: NER (IOB2 Disease/Chemical/Gene/Protein) and clinical NLI.

Generated from templates and lexicons in this file with ``random.Random(seed)``; nothing is downloaded or cached.
"""

from __future__ import annotations

import functools
import random
import re
from typing import Callable

import datasets

__all__ = ["demo_ner", "demo_nli"]

_SPLITS = (("train", 2400), ("validation", 300), ("test", 300))

# =====================================================================================
# NER lexicons
# =====================================================================================
# Areas: met (metabolic/endocrine), cv (cardiovascular), onc (oncology), neu (neurology),
# psy (psychiatry), inf (infection), imm (immunology), resp (respiratory), ren (renal), hem (haematology).
_AREAS = ("met", "cv", "onc", "neu", "psy", "inf", "imm", "resp", "ren", "hem")

_CHEM, _DIS, _GENE = "Chemical", "Disease", "Gene/Protein"
_TYPE_CODE = {"C": _CHEM, "D": _DIS, "G": _GENE}

# Chemical lines: "name | kinds | flags | targets(;) | +extra areas" under an "@areas" header.
# kinds: d drug, c drug class, p protein drug (a Chemical only when administered), e endogenous
# compound/metabolite, t toxin or model-inducing agent, n nutrient. flags: amb (the surface form or
# one of its words also occurs with another type), core (never held out of train).
_CHEM_LEX = """
@met
metformin|d|core|AMPK
sitagliptin|d||DPP-4
empagliflozin|d||SGLT2|cv,ren
dapagliflozin|d||SGLT2|cv,ren
liraglutide|d||GLP-1 receptor
semaglutide|d||GLP-1 receptor
pioglitazone|d||PPARgamma
glibenclamide|d
atorvastatin|d||HMG-CoA reductase|cv
simvastatin|d||HMG-CoA reductase|cv
rosuvastatin|d||HMG-CoA reductase|cv
ezetimibe|d||NPC1L1|cv
fenofibrate|d||PPARalpha
orlistat|d
evolocumab|d||PCSK9|cv
levothyroxine|d||thyroid hormone receptor beta
insulin|p|amb|insulin receptor
glucagon|p|amb|glucagon receptor
leptin|p|amb|leptin receptor
growth hormone|p|amb|growth hormone receptor
SGLT2 inhibitors|c|amb|SGLT2|cv,ren
DPP-4 inhibitors|c|amb|DPP-4
PCSK9 inhibitors|c|amb|PCSK9|cv
statins|c||HMG-CoA reductase|cv
glucose|e|core
cholesterol|e|core||cv
triglycerides|e|||cv
free fatty acids|e
lactate|e
bilirubin|e
ammonia|e
estradiol|e|||onc
testosterone|e|||onc
cortisol|e|amb|glucocorticoid receptor|imm
thyroid hormone|e|amb|thyroid hormone receptor beta
phenylalanine|e|amb
hydrogen peroxide|e|||neu
glutathione|e|amb||neu
streptozotocin|t
alloxan|t
carbon tetrachloride|t
bisphenol A|t
fructose|n
omega-3 fatty acids|n|||cv
vitamin E|n|||cv
@cv
aspirin|d|core|COX-1
acetylsalicylic acid|d|core|COX-1
clopidogrel|d||P2Y12
ticagrelor|d||P2Y12
warfarin|d||VKORC1|hem
heparin|d|||hem
enoxaparin|d|||hem
apixaban|d||factor Xa|hem
rivaroxaban|d||factor Xa|hem
dabigatran|d||thrombin|hem
amiodarone|d
digoxin|d
metoprolol|d||beta1-adrenergic receptor
bisoprolol|d||beta1-adrenergic receptor
carvedilol|d
propranolol|d
lisinopril|d||ACE|ren
ramipril|d||ACE|ren
enalapril|d||ACE|ren
losartan|d||angiotensin II type 1 receptor|ren
valsartan|d||angiotensin II type 1 receptor
amlodipine|d
nifedipine|d
furosemide|d|||ren
spironolactone|d||mineralocorticoid receptor|ren
hydrochlorothiazide|d
nitroglycerin|d
sacubitril|d||neprilysin
alteplase|d|||neu
ACE inhibitors|c|amb,core|ACE|ren
angiotensin II|et|amb|angiotensin II type 1 receptor
nitric oxide|ed|amb||resp
aldosterone|e|amb|mineralocorticoid receptor|ren
homocysteine|e
noradrenaline|e|||psy
isoproterenol|t
monocrotaline|t
sodium|en|||ren
potassium|en|||ren
@onc
cisplatin|dt
carboplatin|d
oxaliplatin|d
doxorubicin|dt|||cv
paclitaxel|d
docetaxel|d
5-fluorouracil|d
gemcitabine|d
cyclophosphamide|d|||imm
methotrexate|d||dihydrofolate reductase|imm
imatinib|d||BCR-ABL1
gefitinib|d||EGFR
erlotinib|d||EGFR
osimertinib|d||EGFR
trastuzumab|d||HER2
bevacizumab|d||VEGF-A
rituximab|d||CD20|imm
pembrolizumab|d||PD-1
nivolumab|d||PD-1
tamoxifen|d||estrogen receptor alpha
letrozole|d||aromatase
olaparib|d||PARP1
sorafenib|d||VEGFR2
vemurafenib|d||BRAF
lenalidomide|d|||hem
bortezomib|d|||hem
vincristine|d
temozolomide|d|||neu
everolimus|d||mTOR
palbociclib|d||CDK4
EGFR inhibitors|c|amb|EGFR
PARP inhibitors|c|amb|PARP1
BRAF inhibitors|c|amb|BRAF
aromatase inhibitors|c|amb|aromatase
mTOR inhibitors|c|amb|mTOR|ren
estrogen|ed|amb|estrogen receptor alpha|met
retinoic acid|e|amb|retinoic acid receptor alpha
azoxymethane|t
arsenic|t
benzene|t|||hem
aflatoxin B1|t
vinyl chloride|t
@neu
levodopa|d
carbidopa|d
donepezil|d||acetylcholinesterase
rivastigmine|d||acetylcholinesterase
memantine|d||NMDA receptor
levetiracetam|d||SV2A
carbamazepine|d
lamotrigine|d
phenytoin|d
valproic acid|d|||psy
gabapentin|d
pregabalin|d
sumatriptan|d
morphine|d||mu-opioid receptor
fentanyl|d||mu-opioid receptor
ketamine|d||NMDA receptor|psy
natalizumab|d||alpha4 integrin|imm
ocrelizumab|d||CD20
dopamine|ed|amb|dopamine D2 receptor|psy
glutamate|e|amb|metabotropic glutamate receptor 5
acetylcholine|e|amb|nicotinic acetylcholine receptor
melatonin|ed|amb|melatonin receptor 1A|psy
adenosine|ed|amb|adenosine A2A receptor|cv
caffeine|en|amb|adenosine A2A receptor
gamma-aminobutyric acid|e
kainic acid|t
pentylenetetrazole|t
MPTP|t
rotenone|t
6-hydroxydopamine|t
cuprizone|t
scopolamine|t
paraquat|t
lead|t|amb
mercury|t
@psy
haloperidol|dt||dopamine D2 receptor
clozapine|d
olanzapine|d
risperidone|d||dopamine D2 receptor
aripiprazole|d||dopamine D2 receptor
lithium|d
fluoxetine|d||serotonin transporter
sertraline|d||serotonin transporter
citalopram|d||serotonin transporter
escitalopram|d||serotonin transporter
amitriptyline|d|||neu
diazepam|d||GABA-A receptor|neu
lorazepam|d||GABA-A receptor|neu
bupropion|d
serotonin|e|amb|serotonin 2A receptor
nicotine|e|amb|nicotinic acetylcholine receptor
cocaine|d||dopamine transporter
ethanol|et|||met
oxytocin|p|amb|oxytocin receptor
kynurenine|e|||neu
selective serotonin reuptake inhibitors|c|amb|serotonin transporter
monoamine oxidase inhibitors|c|amb|monoamine oxidase A
@inf
amoxicillin|d
ciprofloxacin|d||DNA gyrase
vancomycin|d
azithromycin|d
doxycycline|d
rifampicin|d
isoniazid|d
fluconazole|d
oseltamivir|d||neuraminidase
remdesivir|d
tenofovir|d||reverse transcriptase
zidovudine|d||reverse transcriptase
dolutegravir|d||integrase
sofosbuvir|d||NS5B polymerase
chloroquine|d
artemisinin|d
meropenem|d
ceftriaxone|d
hydroxychloroquine|d|||imm
interferon beta|p|amb||neu
@imm
prednisolone|d||glucocorticoid receptor|resp
dexamethasone|d||glucocorticoid receptor|resp,onc
methylprednisolone|d||glucocorticoid receptor|neu
hydrocortisone|d
adalimumab|d||TNF-alpha
infliximab|d||TNF-alpha
etanercept|d||TNF-alpha
tocilizumab|d||interleukin-6 receptor
ustekinumab|d||interleukin-12
secukinumab|d||interleukin-17A
ciclosporin|d||calcineurin|ren
tacrolimus|d||calcineurin|ren
azathioprine|d
mycophenolate mofetil|d|||ren
tofacitinib|d||JAK3
baricitinib|d||JAK1
JAK inhibitors|c|amb|JAK1
colchicine|d
allopurinol|d||xanthine oxidase|ren
ibuprofen|d||COX-2|neu
naproxen|d
celecoxib|d||COX-2
diclofenac|d
paracetamol|dt|||neu,met
COX-2 inhibitors|c|amb|COX-2
calcineurin inhibitors|c|amb|calcineurin|ren
corticosteroids|c|||resp
histamine|e|amb|histamine H1 receptor|resp
cetirizine|d||histamine H1 receptor|resp
prostaglandin E2|e|amb|prostaglandin E2 receptor EP4
uric acid|e|||ren
lipopolysaccharide|t|||inf
dextran sulfate sodium|t
@resp
salbutamol|d||beta2-adrenergic receptor
budesonide|d||glucocorticoid receptor
fluticasone|d
montelukast|d||cysteinyl leukotriene receptor 1
tiotropium|d||muscarinic M3 receptor
theophylline|d
ivacaftor|d||CFTR
omalizumab|d||IgE
mepolizumab|d||interleukin-5
pirfenidone|d
nintedanib|d
bleomycin|t
silica|t
@ren
sevelamer|d
calcitriol|d||vitamin D receptor|met
vitamin D|dn|amb|vitamin D receptor|met
cinacalcet|d||calcium-sensing receptor
tolvaptan|d||vasopressin V2 receptor
creatinine|e|core
phosphate|e
calcium|en|amb
cadmium|t
puromycin aminonucleoside|t
@hem
erythropoietin|p|amb|erythropoietin receptor|ren
iron sucrose|d|||ren
deferoxamine|d
hydroxyurea|d
folic acid|dn
eltrombopag|d||thrombopoietin receptor
emicizumab|d
vitamin B12|dn|amb
iron|dn|amb
heme|e|amb
"""

# Disease lines: "name | kinds | flags | +extra areas". kinds: c common, k cancer, g genetic, a adverse drug event,
# m experimental-model phenotype only.
_DIS_LEX = """
@met
type 2 diabetes|c|core
type 1 diabetes|c
diabetes|c|core
obesity|c
lipodystrophy|c
metabolic syndrome|c||cv
non-alcoholic fatty liver disease|c
non-alcoholic steatohepatitis|c
liver cirrhosis|c
hepatic steatosis|c
alcoholic liver disease|c
liver fibrosis|c
acute liver failure|c
insulin resistance|c|amb
hyperglycaemia|ca
diabetic ketoacidosis|ca
osteoporosis|c
hypothyroidism|c
Graves ' disease|c||imm
Cushing 's syndrome|c
Addison 's disease|c||imm
vitamin D deficiency|c|amb|ren
growth hormone deficiency|c|amb
familial hypercholesterolaemia|g||cv
phenylketonuria|g|amb
maturity-onset diabetes of the young|g
hepatotoxicity|a||inf,imm,onc,neu
drug-induced liver injury|a||inf
lactic acidosis|a
hypoglycaemia|a
pancreatitis|a||imm
Gaucher disease|g||neu
Wilson disease|g||neu
achondroplasia|g
osteogenesis imperfecta|g
congenital adrenal hyperplasia|g
diabetic retinopathy|c||neu
@cv
hypertension|c|core|ren
pulmonary hypertension|c||resp
heart failure|c|core
atrial fibrillation|c
myocardial infarction|c
coronary artery disease|c
stroke|c|amb|neu
ischaemic stroke|c||neu
deep vein thrombosis|c||hem
pulmonary embolism|c||hem,resp
atherosclerosis|c||met
cardiac hypertrophy|c
cardiomyopathy|c
dilated cardiomyopathy|c
hypertrophic cardiomyopathy|g
long QT syndrome|g
aortic stenosis|c
peripheral artery disease|c
Marfan syndrome|g
Noonan syndrome|g
QT prolongation|a||psy,inf
hyperkalaemia|a||ren
hypotension|a
hypertensive crisis|a||psy
bradycardia|a
angioedema|a
rhabdomyolysis|a||met
intracranial haemorrhage|a||hem
gastrointestinal bleeding|a||imm,hem
@onc
breast cancer|k|core
ovarian cancer|k
prostate cancer|k
colorectal cancer|k
lung cancer|k
non-small cell lung cancer|k
small cell lung cancer|k
pancreatic cancer|k
gastric cancer|k
oesophageal adenocarcinoma|k
hepatocellular carcinoma|k
renal cell carcinoma|k||ren
bladder cancer|k
thyroid cancer|k|amb
skin cancer|k
cervical cancer|k
endometrial cancer|k
head and neck squamous cell carcinoma|k
melanoma|k
glioblastoma|k||neu
neuroblastoma|k
retinoblastoma|kg|amb
Wilms tumour|kg|amb|ren
acute myeloid leukaemia|k||hem
chronic myeloid leukaemia|k||hem
acute lymphoblastic leukaemia|k||hem
chronic lymphocytic leukaemia|k||hem
multiple myeloma|k||hem
Hodgkin lymphoma|k||hem
diffuse large B-cell lymphoma|k||hem
hepatic angiosarcoma|k
gastrointestinal stromal tumour|k
Lynch syndrome|g
familial adenomatous polyposis|g|amb
Li-Fraumeni syndrome|g
Peutz-Jeghers syndrome|g
multiple endocrine neoplasia type 2|g||met
cardiotoxicity|a
neutropenia|a||imm
interstitial lung disease|a||imm
osteonecrosis of the jaw|a||met
diarrhoea|a||met,inf
@neu
Alzheimer 's disease|c|core
Parkinson 's disease|c|core
parkinsonism|c
Huntington 's disease|g
amyotrophic lateral sclerosis|c
multiple sclerosis|c||imm
epilepsy|c
status epilepticus|c
seizures|ca
migraine|c
dementia|c
cognitive impairment|c
memory impairment|c
traumatic brain injury|c
neuropathic pain|c
peripheral neuropathy|ca||onc,inf
demyelination|c
Duchenne muscular dystrophy|g
spinal muscular atrophy|g
fragile X syndrome|g||psy
Rett syndrome|g
neurofibromatosis type 1|g||onc
tuberous sclerosis complex|g
Tay-Sachs disease|g
Pompe disease|g||met
prion disease|c|amb
age-related macular degeneration|c
glaucoma|c
Stevens-Johnson syndrome|a||inf,imm
respiratory depression|a
delirium|a||psy
progressive multifocal leukoencephalopathy|a||inf,imm
@psy
catalepsy|m
schizophrenia|c
bipolar disorder|c
major depressive disorder|c
depression|c|amb
generalised anxiety disorder|c
autism spectrum disorder|c
attention deficit hyperactivity disorder|c
alcohol use disorder|c
opioid use disorder|c
post-traumatic stress disorder|c
obsessive-compulsive disorder|c
anorexia nervosa|c
insomnia|c||neu
serotonin syndrome|a|amb
neuroleptic malignant syndrome|a
tardive dyskinesia|a
agranulocytosis|a||imm
hyponatraemia|a||neu,cv
@inf
tuberculosis|c||resp
pneumonia|c||resp
sepsis|c||imm
malaria|c
HIV infection|c
hepatitis C|c||met
hepatitis B|c||met
influenza|c||resp
COVID-19|c||resp
urinary tract infection|c||ren
bacterial meningitis|c||neu
Clostridioides difficile infection|c
invasive candidiasis|c
anaphylaxis|a||onc,imm
tendon rupture|a
ototoxicity|a||onc
@imm
rheumatoid arthritis|c|core
osteoarthritis|c
systemic lupus erythematosus|c
psoriasis|c|amb
psoriatic arthritis|c
ankylosing spondylitis|c
Crohn 's disease|c|amb
ulcerative colitis|c
colitis|c
coeliac disease|c
atopic dermatitis|c
allergic rhinitis|c||resp
hereditary angioedema|g
gout|c||ren
acute lung injury|c||resp
@resp
asthma|c|amb|imm
chronic obstructive pulmonary disease|c
cystic fibrosis|g|amb
idiopathic pulmonary fibrosis|c
pulmonary fibrosis|c
silicosis|c
alpha-1 antitrypsin deficiency|g|amb|met
@ren
chronic kidney disease|c|core
acute kidney injury|ca
nephrotoxicity|a||onc,inf,imm
diabetic nephropathy|c||met
nephrotic syndrome|c
IgA nephropathy|c
polycystic kidney disease|g
focal segmental glomerulosclerosis|c
proteinuria|c|core
albuminuria|c|core
nephrolithiasis|c
nephrogenic diabetes insipidus|a||psy
hypocalcaemia|a
Fabry disease|g||cv
@hem
sickle cell disease|g|amb
beta-thalassaemia|g
haemophilia A|g|amb
von Willebrand disease|g|amb
iron deficiency anaemia|c|amb
anaemia|c||ren
hereditary haemochromatosis|g||met
glucose-6-phosphate dehydrogenase deficiency|g|amb
immune thrombocytopenia|c||imm
myelofibrosis|c||onc
polycythaemia vera|c||onc
thrombocytopenia|a||onc,cv
"""

# Gene/Protein lines: "name | kinds | flags | +extra areas". kinds: g gene/protein, s secreted or circulating protein,
# t transcription factor, y drug-metabolising CYP.
_GENE_LEX = """
@onc
BRCA1|g|core
BRCA2|g
TP53|gt
p53|gt
KRAS|g
NRAS|g
EGFR|g|amb
HER2|g
ALK|g
BRAF|g|amb
PIK3CA|g
PTEN|g
MYC|gt
BCL2|g||hem
CDKN2A|g
APC|g
MLH1|g
MSH2|g
VEGF-A|gs||cv
PD-1|g
PD-L1|g
CTLA-4|g||imm
MET|g|amb
KIT|g|amb
RB1|g
IDH1|g||neu
FLT3|g||hem
NPM1|g||hem
ATM|g
PALB2|g
cyclin D1|g
survivin|g
Ki-67|g
BCR-ABL1|g||hem
PARP1|g|amb
mTOR|g|amb|met
CDK4|g
aromatase|g|amb
estrogen receptor alpha|gt|amb
VEGFR2|g
CD20|g||imm,hem
HIF-1alpha|gt||ren
telomerase reverse transcriptase|g
STK11|g
RET|g
SMAD4|gt
NOTCH1|g
CD44|g
E-cadherin|g
vimentin|g
MDM2|g
AKT1|g
caspase-3|g||neu
prostate-specific antigen|gs|core
CA-125|gs
alpha-fetoprotein|gs
carcinoembryonic antigen|gs
retinoblastoma protein|g|amb
Wilms tumour 1|gt|amb|ren
adenomatous polyposis coli|g|amb
retinoic acid receptor alpha|gt|amb|hem
SHH|g
sonic hedgehog|gs
androgen receptor|gt
matrix metalloproteinase-9|gs
EZH2|g
SOX2|gt
beta-catenin|gt
WT1|gt||ren
dihydrofolate reductase|g|||imm
@imm
TNF-alpha|gs
tumour necrosis factor alpha|gs|amb,core
interleukin-6|gs|core
IL-6|gs
IL-1beta|gs
interleukin-17A|gs
interferon gamma|gs||inf
NF-kappaB|gt
C-reactive protein|gs|core|cv
TLR4|g||inf
NLRP3|g
COX-2|g|amb
cyclooxygenase-2|g
PTGS2|g
STAT3|gt
JAK1|g|amb
JAK3|g
calcineurin|g|amb|ren
interleukin-6 receptor|g
interleukin-12|gs
IL-10|gs
CD4|g|core|inf
FOXP3|gt
HLA-B27|g
HLA-DRB1|g
histamine H1 receptor|g|amb|resp
glucocorticoid receptor|gt||resp
calprotectin|gs
xanthine oxidase|g||ren
prostaglandin E2 receptor EP4|g|amb
inducible nitric oxide synthase|g|amb
interleukin-23|gs
IgE|gs||resp
SERPING1|g
C1 inhibitor|gs
@met
insulin|gs|amb,core
insulin receptor|g|amb
insulin-like growth factor 1|gs|amb
glucagon|gs|amb
glucagon receptor|g|amb
GLP-1 receptor|g
PPARgamma|gt
PPARalpha|gt
AMPK|g
leptin|gs|amb
leptin receptor|g|amb
adiponectin|gs
glucokinase|g
GLUT4|g
SREBP-1c|gt
PCSK9|gs|amb|cv
LDL receptor|g||cv
HMG-CoA reductase|g|amb|cv
FTO|g
TCF7L2|gt
MC4R|g
APOE|g||neu
DPP-4|g|amb
SGLT2|g|amb|ren
growth hormone|gs|amb
growth hormone receptor|g|amb
thyroid hormone receptor beta|gt|amb
NPC1L1|g
FGF21|gs
sirtuin 1|g
catalase|g
CAT|g|amb
superoxide dismutase 2|g
heme oxygenase-1|g|amb|hem
glutathione S-transferase pi|g|amb
phenylalanine hydroxylase|g|amb
HNF1A|gt
uncoupling protein 1|g
fatty acid synthase|g
thyroid-stimulating hormone|gs
PAH|g
GCK|g
ATP7B|g
CYP21A2|g
FGFR3|g
COL1A1|g
LDLR|g||cv
@cv
ACE|g|amb|ren
angiotensin-converting enzyme|g
angiotensin II type 1 receptor|g|amb
endothelial nitric oxide synthase|g|amb
troponin T|gs
troponin I|gs
brain natriuretic peptide|gs
NT-proBNP|gs|core
MYH7|g
MYBPC3|g
titin|g
KCNH2|g
KCNQ1|g
SCN5A|g
APOB|gs||met
factor V|g||hem
von Willebrand factor|gs|amb|hem
thrombin|gs|amb|hem
prothrombin|gs||hem
factor Xa|g||hem
P2Y12|g
VKORC1|g
mineralocorticoid receptor|gt||ren
neprilysin|g
COX-1|g
adenosine A2A receptor|g|amb|neu
beta1-adrenergic receptor|g
endothelin-1|gs
soluble guanylate cyclase|g
aldosterone synthase|g|amb
FBN1|g
fibrillin-1|g
PTPN11|g
creatine kinase|gs||met
angiotensinogen|gs|amb
@neu
amyloid precursor protein|g
APP|g
tau|gs
MAPT|g
alpha-synuclein|g
SNCA|g
LRRK2|g
huntingtin|g
HTT|g
SOD1|g
TDP-43|g
C9orf72|g
BDNF|gs||psy
dopamine D2 receptor|g|amb|psy
dopamine transporter|g|amb|psy
NMDA receptor|g
GABA-A receptor|g||psy
acetylcholinesterase|g
nicotinic acetylcholine receptor|g|amb|psy
metabotropic glutamate receptor 5|g|amb
melatonin receptor 1A|g|amb|psy
PSEN1|g
prion protein|g|amb
GFAP|gs
neurofilament light chain|gs
tyrosine hydroxylase|g
mu-opioid receptor|g
SV2A|g
alpha4 integrin|g||imm
CLOCK|gt|amb|psy
REST|gt|amb
MECP2|g
SMN1|g
FMR1|g||psy
neurofibromin|g
NF1|g
DMD|g
dystrophin|g
GBA|g
glucocerebrosidase|g
parkin|g
TSC2|g
HEXA|g
GAA|g
interferon beta|gs|amb|inf,imm
@psy
serotonin transporter|g|amb
SLC6A4|g
DRD2|g
COMT|g
catechol-O-methyltransferase|g
monoamine oxidase A|g|amb
FKBP5|g
DISC1|g
serotonin 2A receptor|g|amb
oxytocin receptor|g|amb
oxytocin|gs|amb
CACNA1C|g
corticotropin-releasing hormone|gs
@inf
ACE2|g|amb|resp
CCR5|g
TLR2|g
neuraminidase|g
reverse transcriptase|g
integrase|g
NS5B polymerase|g
DNA gyrase|g
procalcitonin|gs
IFITM3|g
spike protein|g
haemagglutinin|g
interferon alpha|gs||imm
@resp
CFTR|g
cystic fibrosis transmembrane conductance regulator|g|amb
alpha-1 antitrypsin|gs|amb|met
SERPINA1|g
IL-13|gs||imm
interleukin-5|gs||imm
TSLP|gs||imm
MUC5B|g
beta2-adrenergic receptor|g
cysteinyl leukotriene receptor 1|g
muscarinic M3 receptor|g
surfactant protein C|g
periostin|gs
TGF-beta1|gs||ren
@ren
podocin|g
nephrin|g
PKD1|g
PKD2|g
uromodulin|gs
APOL1|g
vitamin D receptor|gt|amb|met
calcium-sensing receptor|g|amb
vasopressin V2 receptor|g
klotho|gs
FGF23|gs
erythropoietin|gs|amb|hem
erythropoietin receptor|g|amb|hem
kidney injury molecule-1|gs
GLA|g
alpha-galactosidase A|g
@hem
HBB|g
beta-globin|g
JAK2|g|amb
hepcidin|gs
factor VIII|gs
F8|g
HFE|g|||met
BCL11A|gt
G6PD|g
glucose-6-phosphate dehydrogenase|g|amb
thrombopoietin receptor|g
ferritin|gs|core
transferrin receptor 1|g
VWF|g
fibrinogen|gs
haemoglobin|gs|core
@met,cv,onc,neu,psy,inf,imm,resp,ren,hem
CYP3A4|y
CYP2D6|y
CYP2C9|y
CYP2C19|y
CYP1A2|y
"""

# Pairs: genetic disease -> causal genes.
_GENETIC_PAIRS = """
cystic fibrosis|CFTR;cystic fibrosis transmembrane conductance regulator
Duchenne muscular dystrophy|DMD;dystrophin
Huntington 's disease|HTT;huntingtin
sickle cell disease|HBB;beta-globin
beta-thalassaemia|HBB;BCL11A
haemophilia A|F8;factor VIII
Marfan syndrome|FBN1;fibrillin-1
fragile X syndrome|FMR1
neurofibromatosis type 1|NF1;neurofibromin
familial adenomatous polyposis|APC;adenomatous polyposis coli
Lynch syndrome|MLH1;MSH2
hereditary haemochromatosis|HFE
familial hypercholesterolaemia|LDLR;PCSK9;APOB
phenylketonuria|PAH;phenylalanine hydroxylase
spinal muscular atrophy|SMN1
retinoblastoma|RB1;retinoblastoma protein
Wilms tumour|WT1;Wilms tumour 1
von Willebrand disease|VWF;von Willebrand factor
alpha-1 antitrypsin deficiency|SERPINA1;alpha-1 antitrypsin
glucose-6-phosphate dehydrogenase deficiency|G6PD;glucose-6-phosphate dehydrogenase
Rett syndrome|MECP2
tuberous sclerosis complex|TSC2
polycystic kidney disease|PKD1;PKD2
long QT syndrome|KCNH2;KCNQ1;SCN5A
hypertrophic cardiomyopathy|MYH7;MYBPC3
Gaucher disease|GBA;glucocerebrosidase
Tay-Sachs disease|HEXA
Fabry disease|GLA;alpha-galactosidase A
Pompe disease|GAA
Wilson disease|ATP7B
amyotrophic lateral sclerosis|SOD1;C9orf72;TDP-43
Alzheimer 's disease|APP;PSEN1;APOE
Parkinson 's disease|LRRK2;SNCA;parkin
breast cancer|BRCA1;BRCA2;PALB2
Li-Fraumeni syndrome|TP53
Peutz-Jeghers syndrome|STK11
Noonan syndrome|PTPN11
achondroplasia|FGFR3
osteogenesis imperfecta|COL1A1
hereditary angioedema|SERPING1;C1 inhibitor
congenital adrenal hyperplasia|CYP21A2
maturity-onset diabetes of the young|HNF1A;GCK;glucokinase
multiple endocrine neoplasia type 2|RET
"""

# Ligand (Chemical, or Gene/Protein for protein hormones) -> receptor/target.
_LIGAND_PAIRS = """
estrogen|estrogen receptor alpha
estradiol|estrogen receptor alpha
dopamine|dopamine D2 receptor
serotonin|serotonin 2A receptor
vitamin D|vitamin D receptor
calcitriol|vitamin D receptor
cortisol|glucocorticoid receptor
dexamethasone|glucocorticoid receptor
angiotensin II|angiotensin II type 1 receptor
adenosine|adenosine A2A receptor
caffeine|adenosine A2A receptor
histamine|histamine H1 receptor
acetylcholine|nicotinic acetylcholine receptor
nicotine|nicotinic acetylcholine receptor
glutamate|metabotropic glutamate receptor 5
glutamate|NMDA receptor
testosterone|androgen receptor
melatonin|melatonin receptor 1A
retinoic acid|retinoic acid receptor alpha
aldosterone|mineralocorticoid receptor
thyroid hormone|thyroid hormone receptor beta
prostaglandin E2|prostaglandin E2 receptor EP4
insulin|insulin receptor
glucagon|glucagon receptor
leptin|leptin receptor
growth hormone|growth hormone receptor
erythropoietin|erythropoietin receptor
oxytocin|oxytocin receptor
morphine|mu-opioid receptor
salbutamol|beta2-adrenergic receptor
calcium|calcium-sensing receptor
"""

# Circulating biomarker (Gene/Protein) -> diseases it is used for.
_BIOMARKER_PAIRS = """
troponin T|myocardial infarction
troponin I|myocardial infarction
brain natriuretic peptide|heart failure
NT-proBNP|heart failure
prostate-specific antigen|prostate cancer
CA-125|ovarian cancer
alpha-fetoprotein|hepatocellular carcinoma
carcinoembryonic antigen|colorectal cancer
procalcitonin|sepsis;pneumonia
calprotectin|Crohn 's disease;ulcerative colitis
ferritin|hereditary haemochromatosis;iron deficiency anaemia
C-reactive protein|rheumatoid arthritis;sepsis
thyroid-stimulating hormone|hypothyroidism
neurofilament light chain|multiple sclerosis;amyotrophic lateral sclerosis
tau|Alzheimer 's disease
GFAP|traumatic brain injury
kidney injury molecule-1|acute kidney injury
IgE|asthma;atopic dermatitis
creatine kinase|rhabdomyolysis
hepcidin|iron deficiency anaemia
periostin|asthma
haemoglobin|anaemia;sickle cell disease
"""

# Toxins / model-inducing agents -> disease produced in experimental models (area of the model).
_TOXIN_PAIRS = """
streptozotocin|met|diabetes;hyperglycaemia
alloxan|met|diabetes
carbon tetrachloride|met|liver fibrosis;hepatotoxicity
paracetamol|met|acute liver failure;hepatotoxicity
ethanol|met|alcoholic liver disease;hepatic steatosis
lipopolysaccharide|imm|sepsis;acute lung injury
dextran sulfate sodium|imm|colitis
bleomycin|resp|pulmonary fibrosis
monocrotaline|cv|pulmonary hypertension
angiotensin II|cv|hypertension;cardiac hypertrophy
isoproterenol|cv|cardiac hypertrophy
doxorubicin|cv|dilated cardiomyopathy;cardiotoxicity
cisplatin|ren|acute kidney injury;nephrotoxicity
puromycin aminonucleoside|ren|nephrotic syndrome
kainic acid|neu|seizures;status epilepticus
pentylenetetrazole|neu|seizures
MPTP|neu|parkinsonism
rotenone|neu|parkinsonism
6-hydroxydopamine|neu|parkinsonism
cuprizone|neu|demyelination
scopolamine|neu|memory impairment
azoxymethane|onc|colorectal cancer
haloperidol|psy|catalepsy
"""

# Environmental exposures -> associated diseases; "u" marks exposures usually measured in urine.
_ENV_PAIRS = """
arsenic|bladder cancer;skin cancer|u
cadmium|chronic kidney disease|u
benzene|acute myeloid leukaemia|u
aflatoxin B1|hepatocellular carcinoma|
vinyl chloride|hepatic angiosarcoma|
paraquat|Parkinson 's disease|
silica|silicosis|
lead|cognitive impairment;hypertension|u
mercury|peripheral neuropathy|u
bisphenol A|obesity;type 2 diabetes|u
"""

# Drug -> adverse events it is known to cause.
_ADE_PAIRS = """
metformin|lactic acidosis;diarrhoea
glibenclamide|hypoglycaemia
sitagliptin|pancreatitis
liraglutide|pancreatitis
semaglutide|pancreatitis;diabetic retinopathy
empagliflozin|diabetic ketoacidosis;urinary tract infection
dapagliflozin|diabetic ketoacidosis;urinary tract infection
pioglitazone|heart failure;bladder cancer
atorvastatin|rhabdomyolysis;hepatotoxicity
simvastatin|rhabdomyolysis
rosuvastatin|rhabdomyolysis
fenofibrate|rhabdomyolysis
levothyroxine|atrial fibrillation
aspirin|gastrointestinal bleeding
acetylsalicylic acid|gastrointestinal bleeding
clopidogrel|gastrointestinal bleeding
ticagrelor|gastrointestinal bleeding;bradycardia
warfarin|intracranial haemorrhage;gastrointestinal bleeding
heparin|thrombocytopenia
enoxaparin|thrombocytopenia
apixaban|gastrointestinal bleeding
rivaroxaban|gastrointestinal bleeding;intracranial haemorrhage
dabigatran|gastrointestinal bleeding
amiodarone|hypothyroidism;pulmonary fibrosis;QT prolongation
digoxin|bradycardia
metoprolol|bradycardia;hypotension
bisoprolol|bradycardia
carvedilol|hypotension
propranolol|bradycardia
lisinopril|angioedema;hyperkalaemia
ramipril|angioedema
enalapril|angioedema;hyperkalaemia
losartan|hyperkalaemia
valsartan|hyperkalaemia
spironolactone|hyperkalaemia
furosemide|ototoxicity
hydrochlorothiazide|hyponatraemia
nitroglycerin|hypotension
alteplase|intracranial haemorrhage
cisplatin|nephrotoxicity;ototoxicity;peripheral neuropathy
carboplatin|thrombocytopenia
oxaliplatin|peripheral neuropathy
doxorubicin|cardiotoxicity
paclitaxel|peripheral neuropathy;neutropenia
docetaxel|neutropenia
5-fluorouracil|diarrhoea;cardiotoxicity
gemcitabine|thrombocytopenia
cyclophosphamide|neutropenia
methotrexate|hepatotoxicity;interstitial lung disease
gefitinib|interstitial lung disease;diarrhoea
erlotinib|diarrhoea
osimertinib|interstitial lung disease;QT prolongation
trastuzumab|cardiotoxicity
bevacizumab|hypertension
rituximab|neutropenia;progressive multifocal leukoencephalopathy
pembrolizumab|colitis;hypothyroidism
nivolumab|colitis;hypothyroidism
tamoxifen|endometrial cancer;deep vein thrombosis
letrozole|osteoporosis
olaparib|anaemia;neutropenia
sorafenib|hypertension;diarrhoea
lenalidomide|deep vein thrombosis;neutropenia
bortezomib|peripheral neuropathy
vincristine|peripheral neuropathy
temozolomide|thrombocytopenia
everolimus|interstitial lung disease
carbamazepine|Stevens-Johnson syndrome;hyponatraemia;agranulocytosis
lamotrigine|Stevens-Johnson syndrome
phenytoin|Stevens-Johnson syndrome
valproic acid|hepatotoxicity;pancreatitis
morphine|respiratory depression
fentanyl|respiratory depression
natalizumab|progressive multifocal leukoencephalopathy
haloperidol|tardive dyskinesia;neuroleptic malignant syndrome;QT prolongation
clozapine|agranulocytosis;seizures
olanzapine|metabolic syndrome
risperidone|tardive dyskinesia
aripiprazole|tardive dyskinesia
lithium|hypothyroidism;nephrogenic diabetes insipidus
fluoxetine|serotonin syndrome;hyponatraemia
sertraline|serotonin syndrome
citalopram|QT prolongation;serotonin syndrome
escitalopram|QT prolongation
bupropion|seizures
ciprofloxacin|QT prolongation;tendon rupture
vancomycin|nephrotoxicity
azithromycin|QT prolongation
rifampicin|hepatotoxicity
isoniazid|hepatotoxicity;peripheral neuropathy
fluconazole|QT prolongation
chloroquine|QT prolongation
hydroxychloroquine|QT prolongation
zidovudine|anaemia
tenofovir|nephrotoxicity
amoxicillin|anaphylaxis;Clostridioides difficile infection
meropenem|seizures
ceftriaxone|Clostridioides difficile infection
prednisolone|osteoporosis;hyperglycaemia
dexamethasone|hyperglycaemia
methylprednisolone|hyperglycaemia
adalimumab|tuberculosis
infliximab|tuberculosis
etanercept|tuberculosis
tofacitinib|deep vein thrombosis;pulmonary embolism
baricitinib|deep vein thrombosis
ciclosporin|nephrotoxicity;hypertension
tacrolimus|nephrotoxicity
azathioprine|pancreatitis;neutropenia
mycophenolate mofetil|diarrhoea;neutropenia
colchicine|diarrhoea;rhabdomyolysis
allopurinol|Stevens-Johnson syndrome
ibuprofen|gastrointestinal bleeding;acute kidney injury
naproxen|gastrointestinal bleeding
diclofenac|gastrointestinal bleeding;hepatotoxicity
celecoxib|myocardial infarction
paracetamol|hepatotoxicity;acute liver failure
theophylline|seizures
tolvaptan|hepatotoxicity
cinacalcet|hypocalcaemia
iron sucrose|anaphylaxis
hydroxyurea|neutropenia
eltrombopag|hepatotoxicity
cocaine|myocardial infarction;stroke
"""

# Landmark trial (non-entity name) -> the drug it tested.
_TRIAL_PAIRS = """
UKPDS|metformin
LEADER|liraglutide
SUSTAIN-6|semaglutide
EMPA-REG OUTCOME|empagliflozin
EMPA-KIDNEY|empagliflozin
DAPA-HF|dapagliflozin
DAPA-CKD|dapagliflozin
PARADIGM-HF|sacubitril
RE-LY|dabigatran
ARISTOTLE|apixaban
ROCKET AF|rivaroxaban
FOURIER|evolocumab
JUPITER|rosuvastatin
HOPE|ramipril
ALLHAT|amlodipine
KEYNOTE-189|pembrolizumab
CheckMate 067|nivolumab
PALOMA-2|palbociclib
SOLO-1|olaparib
FLAURA|osimertinib
RECOVERY|dexamethasone
ACTT-1|remdesivir
ORAL Surveillance|tofacitinib
ORATORIO|ocrelizumab
CATIE|olanzapine
TORCH|fluticasone
INPULSIS|nintedanib
"""

# Drug (or drug class / protein drug) -> diseases it is used to treat.
_IND_PAIRS = """
metformin|type 2 diabetes;insulin resistance;non-alcoholic fatty liver disease
sitagliptin|type 2 diabetes
empagliflozin|type 2 diabetes;heart failure;chronic kidney disease
dapagliflozin|type 2 diabetes;heart failure;chronic kidney disease
liraglutide|type 2 diabetes;obesity
semaglutide|type 2 diabetes;obesity;non-alcoholic steatohepatitis
pioglitazone|type 2 diabetes;non-alcoholic steatohepatitis
glibenclamide|type 2 diabetes
atorvastatin|coronary artery disease;familial hypercholesterolaemia;atherosclerosis
simvastatin|coronary artery disease;familial hypercholesterolaemia
rosuvastatin|coronary artery disease;familial hypercholesterolaemia;atherosclerosis
ezetimibe|familial hypercholesterolaemia;coronary artery disease
fenofibrate|metabolic syndrome;diabetic retinopathy
orlistat|obesity
evolocumab|familial hypercholesterolaemia;coronary artery disease
levothyroxine|hypothyroidism;thyroid cancer
insulin|type 1 diabetes;type 2 diabetes;diabetic ketoacidosis
glucagon|hypoglycaemia
leptin|lipodystrophy
growth hormone|growth hormone deficiency;achondroplasia
SGLT2 inhibitors|type 2 diabetes;heart failure;chronic kidney disease
DPP-4 inhibitors|type 2 diabetes
PCSK9 inhibitors|familial hypercholesterolaemia;coronary artery disease
statins|coronary artery disease;familial hypercholesterolaemia;atherosclerosis
aspirin|coronary artery disease;myocardial infarction;ischaemic stroke
acetylsalicylic acid|coronary artery disease;myocardial infarction;ischaemic stroke
clopidogrel|coronary artery disease;peripheral artery disease;ischaemic stroke
ticagrelor|myocardial infarction;coronary artery disease
warfarin|atrial fibrillation;deep vein thrombosis;pulmonary embolism
heparin|deep vein thrombosis;pulmonary embolism;myocardial infarction
enoxaparin|deep vein thrombosis;pulmonary embolism
apixaban|atrial fibrillation;deep vein thrombosis;pulmonary embolism
rivaroxaban|atrial fibrillation;deep vein thrombosis;peripheral artery disease
dabigatran|atrial fibrillation;deep vein thrombosis
amiodarone|atrial fibrillation
digoxin|atrial fibrillation;heart failure
metoprolol|hypertension;heart failure;atrial fibrillation
bisoprolol|heart failure;hypertension;atrial fibrillation
carvedilol|heart failure;dilated cardiomyopathy
propranolol|hypertension;migraine;liver cirrhosis
lisinopril|hypertension;heart failure;diabetic nephropathy
ramipril|hypertension;heart failure;coronary artery disease
enalapril|hypertension;heart failure
losartan|hypertension;diabetic nephropathy;Marfan syndrome
valsartan|hypertension;heart failure
amlodipine|hypertension;coronary artery disease
nifedipine|hypertension
furosemide|heart failure;nephrotic syndrome
spironolactone|heart failure;hypertension;liver cirrhosis
hydrochlorothiazide|hypertension;nephrolithiasis
nitroglycerin|coronary artery disease
sacubitril|heart failure
alteplase|ischaemic stroke;pulmonary embolism
ACE inhibitors|hypertension;heart failure;diabetic nephropathy
nitric oxide|pulmonary hypertension
cisplatin|non-small cell lung cancer;ovarian cancer;bladder cancer;head and neck squamous cell carcinoma
carboplatin|ovarian cancer;non-small cell lung cancer;retinoblastoma
oxaliplatin|colorectal cancer;gastric cancer
doxorubicin|breast cancer;Hodgkin lymphoma;diffuse large B-cell lymphoma
paclitaxel|breast cancer;ovarian cancer;non-small cell lung cancer
docetaxel|prostate cancer;breast cancer;non-small cell lung cancer
5-fluorouracil|colorectal cancer;gastric cancer;pancreatic cancer
gemcitabine|pancreatic cancer;bladder cancer;non-small cell lung cancer
cyclophosphamide|breast cancer;diffuse large B-cell lymphoma;chronic lymphocytic leukaemia
methotrexate|acute lymphoblastic leukaemia;rheumatoid arthritis;psoriasis
imatinib|chronic myeloid leukaemia;gastrointestinal stromal tumour
gefitinib|non-small cell lung cancer
erlotinib|non-small cell lung cancer;pancreatic cancer
osimertinib|non-small cell lung cancer
trastuzumab|breast cancer;gastric cancer
bevacizumab|colorectal cancer;glioblastoma;ovarian cancer;non-small cell lung cancer
rituximab|diffuse large B-cell lymphoma;chronic lymphocytic leukaemia;rheumatoid arthritis
pembrolizumab|melanoma;non-small cell lung cancer;head and neck squamous cell carcinoma;Hodgkin lymphoma
nivolumab|melanoma;renal cell carcinoma;non-small cell lung cancer;Hodgkin lymphoma
tamoxifen|breast cancer
letrozole|breast cancer
olaparib|ovarian cancer;breast cancer;prostate cancer;pancreatic cancer
sorafenib|hepatocellular carcinoma;renal cell carcinoma;thyroid cancer
vemurafenib|melanoma
lenalidomide|multiple myeloma
bortezomib|multiple myeloma
vincristine|acute lymphoblastic leukaemia;diffuse large B-cell lymphoma;Wilms tumour;neuroblastoma
temozolomide|glioblastoma
everolimus|renal cell carcinoma;breast cancer;tuberous sclerosis complex
palbociclib|breast cancer
EGFR inhibitors|non-small cell lung cancer
PARP inhibitors|ovarian cancer;breast cancer;prostate cancer
BRAF inhibitors|melanoma
aromatase inhibitors|breast cancer
mTOR inhibitors|renal cell carcinoma;tuberous sclerosis complex
levodopa|Parkinson 's disease
carbidopa|Parkinson 's disease
donepezil|Alzheimer 's disease;dementia
rivastigmine|Alzheimer 's disease;dementia
memantine|Alzheimer 's disease
levetiracetam|epilepsy;status epilepticus
carbamazepine|epilepsy;neuropathic pain;bipolar disorder
lamotrigine|epilepsy;bipolar disorder
phenytoin|epilepsy;status epilepticus
valproic acid|epilepsy;bipolar disorder;migraine
gabapentin|neuropathic pain;epilepsy
pregabalin|neuropathic pain;generalised anxiety disorder
sumatriptan|migraine
morphine|neuropathic pain;myocardial infarction
fentanyl|neuropathic pain
natalizumab|multiple sclerosis;Crohn 's disease
ocrelizumab|multiple sclerosis
interferon beta|multiple sclerosis
methylprednisolone|multiple sclerosis;systemic lupus erythematosus
ketamine|major depressive disorder;depression
amitriptyline|neuropathic pain;migraine;depression
melatonin|insomnia
haloperidol|schizophrenia;delirium
clozapine|schizophrenia
olanzapine|schizophrenia;bipolar disorder
risperidone|schizophrenia;bipolar disorder;autism spectrum disorder
aripiprazole|schizophrenia;bipolar disorder;autism spectrum disorder
lithium|bipolar disorder
fluoxetine|major depressive disorder;obsessive-compulsive disorder;anorexia nervosa
sertraline|major depressive disorder;post-traumatic stress disorder;obsessive-compulsive disorder
citalopram|major depressive disorder;depression
escitalopram|major depressive disorder;generalised anxiety disorder
bupropion|major depressive disorder;depression
diazepam|generalised anxiety disorder;status epilepticus;alcohol use disorder
lorazepam|status epilepticus;generalised anxiety disorder
oxytocin|autism spectrum disorder
selective serotonin reuptake inhibitors|depression;major depressive disorder;obsessive-compulsive disorder
monoamine oxidase inhibitors|depression;Parkinson 's disease
amoxicillin|pneumonia;urinary tract infection
ciprofloxacin|urinary tract infection
vancomycin|sepsis;bacterial meningitis;Clostridioides difficile infection
azithromycin|pneumonia
doxycycline|pneumonia;malaria
rifampicin|tuberculosis
isoniazid|tuberculosis
fluconazole|invasive candidiasis
oseltamivir|influenza
remdesivir|COVID-19
tenofovir|HIV infection;hepatitis B
zidovudine|HIV infection
dolutegravir|HIV infection
sofosbuvir|hepatitis C
chloroquine|malaria
artemisinin|malaria
hydroxychloroquine|malaria;systemic lupus erythematosus;rheumatoid arthritis
meropenem|sepsis;bacterial meningitis;pneumonia
ceftriaxone|bacterial meningitis;pneumonia;sepsis
prednisolone|asthma;rheumatoid arthritis;systemic lupus erythematosus;ulcerative colitis
dexamethasone|COVID-19;bacterial meningitis;multiple myeloma
hydrocortisone|Addison 's disease;sepsis;congenital adrenal hyperplasia
adalimumab|rheumatoid arthritis;Crohn 's disease;psoriasis;ankylosing spondylitis
infliximab|Crohn 's disease;ulcerative colitis;rheumatoid arthritis
etanercept|rheumatoid arthritis;psoriatic arthritis;psoriasis
tocilizumab|rheumatoid arthritis;COVID-19
ustekinumab|psoriasis;Crohn 's disease
secukinumab|psoriasis;ankylosing spondylitis;psoriatic arthritis
ciclosporin|psoriasis;atopic dermatitis;nephrotic syndrome
tacrolimus|atopic dermatitis;nephrotic syndrome
azathioprine|Crohn 's disease;systemic lupus erythematosus
mycophenolate mofetil|systemic lupus erythematosus;IgA nephropathy
tofacitinib|rheumatoid arthritis;ulcerative colitis
baricitinib|rheumatoid arthritis;atopic dermatitis
JAK inhibitors|rheumatoid arthritis;myelofibrosis;atopic dermatitis
colchicine|gout
allopurinol|gout
ibuprofen|osteoarthritis;rheumatoid arthritis
naproxen|osteoarthritis;gout;ankylosing spondylitis
celecoxib|osteoarthritis;rheumatoid arthritis
diclofenac|osteoarthritis
paracetamol|osteoarthritis
COX-2 inhibitors|osteoarthritis;rheumatoid arthritis
calcineurin inhibitors|nephrotic syndrome;focal segmental glomerulosclerosis
corticosteroids|asthma;chronic obstructive pulmonary disease;rheumatoid arthritis;ulcerative colitis
cetirizine|allergic rhinitis;atopic dermatitis
salbutamol|asthma;chronic obstructive pulmonary disease
budesonide|asthma;chronic obstructive pulmonary disease;Crohn 's disease
fluticasone|asthma;chronic obstructive pulmonary disease;allergic rhinitis
montelukast|asthma;allergic rhinitis
tiotropium|chronic obstructive pulmonary disease;asthma
theophylline|asthma;chronic obstructive pulmonary disease
ivacaftor|cystic fibrosis
omalizumab|asthma
mepolizumab|asthma
pirfenidone|idiopathic pulmonary fibrosis
nintedanib|idiopathic pulmonary fibrosis
sevelamer|chronic kidney disease
calcitriol|chronic kidney disease;hypocalcaemia
vitamin D|vitamin D deficiency;osteoporosis
cinacalcet|chronic kidney disease
tolvaptan|polycystic kidney disease;hyponatraemia
erythropoietin|anaemia;chronic kidney disease
iron sucrose|iron deficiency anaemia;chronic kidney disease
deferoxamine|beta-thalassaemia
hydroxyurea|sickle cell disease;polycythaemia vera
folic acid|anaemia
eltrombopag|immune thrombocytopenia
emicizumab|haemophilia A
vitamin B12|anaemia
iron|iron deficiency anaemia
"""

# Cytochrome P450 enzyme -> drugs it mainly metabolises.
_CYP_PAIRS = """
CYP3A4|atorvastatin;simvastatin;ciclosporin;tacrolimus;apixaban;rivaroxaban;imatinib;gefitinib
CYP3A4|erlotinib;osimertinib;fentanyl;amlodipine;nifedipine;carbamazepine;ticagrelor;everolimus
CYP3A4|sorafenib;docetaxel;paclitaxel;dexamethasone;budesonide;olaparib;palbociclib;tofacitinib
CYP2D6|metoprolol;carvedilol;propranolol;fluoxetine;amitriptyline;haloperidol;risperidone;aripiprazole;tamoxifen
CYP2C9|warfarin;phenytoin;celecoxib;losartan;glibenclamide;ibuprofen;diclofenac
CYP2C19|clopidogrel;citalopram;escitalopram;sertraline;diazepam
CYP1A2|clozapine;olanzapine;theophylline
"""

# Rating scale or questionnaire (non-entity name, although it may contain disease words) -> diseases it measures.
_SCALE_PAIRS = """
Unified Parkinson 's Disease Rating Scale|Parkinson 's disease
Alzheimer 's Disease Assessment Scale|Alzheimer 's disease
Expanded Disability Status Scale|multiple sclerosis
Mini-Mental State Examination|Alzheimer 's disease;dementia
Hamilton Depression Rating Scale|major depressive disorder;depression
Montgomery-Asberg Depression Rating Scale|major depressive disorder;bipolar disorder
Positive and Negative Syndrome Scale|schizophrenia
Yale-Brown Obsessive Compulsive Scale|obsessive-compulsive disorder
Disease Activity Score 28|rheumatoid arthritis
Psoriasis Area and Severity Index|psoriasis
Crohn 's Disease Activity Index|Crohn 's disease
Systemic Lupus Erythematosus Disease Activity Index|systemic lupus erythematosus
Asthma Control Questionnaire|asthma
St George 's Respiratory Questionnaire|chronic obstructive pulmonary disease;idiopathic pulmonary fibrosis
COPD Assessment Test|chronic obstructive pulmonary disease
Kansas City Cardiomyopathy Questionnaire|heart failure;hypertrophic cardiomyopathy
Minnesota Living with Heart Failure Questionnaire|heart failure
Diabetes Distress Scale|type 2 diabetes;type 1 diabetes
Kidney Disease Quality of Life|chronic kidney disease
Eczema Area and Severity Index|atopic dermatitis
Bath Ankylosing Spondylitis Disease Activity Index|ankylosing spondylitis
Headache Impact Test|migraine
"""

# Gene symbol -> the protein it encodes.
_SYMBOL_PAIRS = """
CFTR|cystic fibrosis transmembrane conductance regulator
PAH|phenylalanine hydroxylase
HBB|beta-globin
F8|factor VIII
FBN1|fibrillin-1
NF1|neurofibromin
DMD|dystrophin
HTT|huntingtin
VWF|von Willebrand factor
SERPINA1|alpha-1 antitrypsin
G6PD|glucose-6-phosphate dehydrogenase
GBA|glucocerebrosidase
GCK|glucokinase
GLA|alpha-galactosidase A
CAT|catalase
APP|amyloid precursor protein
MAPT|tau
SNCA|alpha-synuclein
RB1|retinoblastoma protein
WT1|Wilms tumour 1
APC|adenomatous polyposis coli
TP53|p53
SLC6A4|serotonin transporter
DRD2|dopamine D2 receptor
COMT|catechol-O-methyltransferase
PTGS2|cyclooxygenase-2
ACE|angiotensin-converting enzyme
"""

# Disease definitions used in methods sections ("disease :: definition"); <text|T> marks an inline entity.
_DEFINITIONS = """
hypertension :: a systolic blood pressure of at least 140 mmHg or use of antihypertensive medication
type 2 diabetes :: a fasting plasma <glucose|C> of 7.0 mmol/L or higher or an HbA1c of at least 6.5 %
obesity :: a body mass index of 30 kg/m2 or higher
chronic kidney disease :: an estimated glomerular filtration rate below 60 mL/min/1.73 m2 for at least 3 months
anaemia :: a <haemoglobin|G> concentration below 12 g/dL in women and below 13 g/dL in men
hyperkalaemia :: a serum <potassium|C> concentration above 5.5 mmol/L
thrombocytopenia :: a platelet count below 150 x 10^9/L
acute kidney injury :: an increase in serum <creatinine|C> of at least 0.3 mg/dL within 48 hours
hypoglycaemia :: a blood <glucose|C> concentration below 3.9 mmol/L
neutropenia :: an absolute neutrophil count below 1.5 x 10^9/L
QT prolongation :: a corrected QT interval longer than 500 ms
osteoporosis :: a bone mineral density T-score of -2.5 or lower
hyponatraemia :: a serum <sodium|C> concentration below 135 mmol/L
metabolic syndrome :: the presence of at least three of five cardiometabolic risk factors
sepsis :: life-threatening organ dysfunction caused by a dysregulated host response to infection
"""

# Disease groups used to restrict outcome phrases ("#@GROUP").
_OUTCOME_GROUPS = {
    "DM": ["type 2 diabetes", "type 1 diabetes", "diabetes", "insulin resistance", "metabolic syndrome", "obesity",
           "lipodystrophy"],
    "LIP": ["familial hypercholesterolaemia", "metabolic syndrome", "type 2 diabetes", "obesity", "atherosclerosis",
            "coronary artery disease", "lipodystrophy"],
    "WT": ["obesity", "type 2 diabetes", "metabolic syndrome", "non-alcoholic fatty liver disease",
           "non-alcoholic steatohepatitis"],
    "LIV": ["non-alcoholic fatty liver disease", "non-alcoholic steatohepatitis", "hepatic steatosis", "obesity",
            "type 2 diabetes", "lipodystrophy"],
    "HF": ["heart failure", "dilated cardiomyopathy", "myocardial infarction", "cardiomyopathy",
           "hypertrophic cardiomyopathy"],
    "ATH": ["coronary artery disease", "myocardial infarction", "ischaemic stroke", "peripheral artery disease",
            "atherosclerosis"],
    "VIR": ["HIV infection", "hepatitis B", "hepatitis C", "influenza", "COVID-19"],
    "BAC": ["tuberculosis", "pneumonia", "sepsis", "urinary tract infection", "bacterial meningitis",
            "Clostridioides difficile infection", "invasive candidiasis"],
}

# Area-specific non-entity phrases; <text|T> marks inline entities.
_AREA_PHRASES: dict[str, dict[str, list[str]]] = {
    # Outcomes: "-" lower is better, "+" higher is better, "~" either ("improved" reads naturally);
    # "#d1;d2" limits an outcome to patients with those diseases.
    "OUT": {
        "met": ["-hepatic <glucose|C> output#@DM", "-fasting plasma <glucose|C>#@DM", "-HbA1c#@DM",
                "-body weight#@WT", "-plasma <triglyceride|C> concentrations#@LIP", "-LDL <cholesterol|C> levels#@LIP",
                "+<insulin|G> sensitivity#@DM", "~glycaemic control#@DM", "-liver fat content#@LIV",
                "-waist circumference#@WT", "+bone mineral density#osteoporosis;vitamin D deficiency",
                "-the incidence of vertebral fractures#osteoporosis", "~health-related quality of life"],
        "cv": ["-systolic blood pressure#hypertension;diabetic nephropathy;chronic kidney disease",
               "+left ventricular ejection fraction#@HF", "-all-cause mortality",
               "-the risk of major adverse cardiovascular events", "-platelet aggregation#@ATH",
               "-infarct size#myocardial infarction", "-pulse wave velocity#hypertension;atherosclerosis",
               "+stroke volume#heart failure;pulmonary hypertension;aortic stenosis", "-serum <NT-proBNP|G> levels#@HF",
               "-the rate of hospitalisation",
               "-the rate of recurrent venous thromboembolism#deep vein thrombosis;pulmonary embolism",
               "-the risk of <stroke|D>#atrial fibrillation",
               "+six-minute walk distance#pulmonary hypertension;heart failure",
               "~health-related quality of life"],
        "onc": ["-tumour growth", "+progression-free survival", "+overall survival", "-tumour volume",
                "+the objective response rate", "-serum <prostate-specific antigen|G> levels#prostate cancer",
                "-circulating tumour DNA levels", "~health-related quality of life"],
        "neu": ["+motor function#Parkinson 's disease;amyotrophic lateral sclerosis;spinal muscular"
                " atrophy;Duchenne muscular dystrophy;ischaemic stroke;multiple sclerosis",
                "-cognitive decline#Alzheimer 's disease;dementia;cognitive impairment",
                "-the annualised relapse rate#multiple sclerosis",
                "-pain scores#neuropathic pain;migraine;peripheral neuropathy",
                "~scores on the Unified Parkinson 's Disease Rating Scale#Parkinson 's disease",
                "-disability progression#multiple sclerosis;amyotrophic lateral sclerosis",
                "~scores on the Alzheimer 's Disease Assessment Scale#Alzheimer 's disease;dementia",
                "-the frequency of <seizures|D>#epilepsy;status epilepticus",
                "-monthly headache days#migraine", "-the time to sleep onset#insomnia",
                "~health-related quality of life"],
        "psy": ["-depressive symptoms#depression;major depressive disorder;bipolar disorder",
                "~scores on the Hamilton Depression Rating Scale#depression;major depressive disorder",
                "-anxiety scores#generalised anxiety disorder;post-traumatic stress disorder;obsessive-compulsive"
                " disorder",
                "-the rate of relapse", "-psychotic symptoms#schizophrenia;bipolar disorder",
                "-sleep latency#insomnia", "-craving scores#alcohol use disorder;opioid use disorder",
                "~social communication scores#autism spectrum disorder", "-irritability#autism spectrum disorder",
                "-inattention scores#attention deficit hyperactivity disorder", "+body mass index#anorexia nervosa",
                "~symptom severity"],
        "inf": ["-viral load#@VIR", "-the time to clinical recovery#influenza;COVID-19;pneumonia",
                "-28-day mortality#sepsis;pneumonia;COVID-19;bacterial meningitis;invasive candidiasis",
                "-bacterial load#@BAC", "-parasite clearance time#malaria", "+<CD4|G> cell counts#HIV infection",
                "+the rate of sustained virological response#hepatitis C", "+sputum culture conversion#tuberculosis",
                "-the rate of recurrence#Clostridioides difficile infection;urinary tract infection"],
        "imm": ["-disease activity", "~the Disease Activity Score#rheumatoid arthritis;psoriatic arthritis",
                "-joint swelling#rheumatoid arthritis;psoriatic arthritis;gout;osteoarthritis",
                "-the number of flares#systemic lupus erythematosus;gout;Crohn 's disease;ulcerative"
                " colitis;rheumatoid arthritis",
                "-serum <C-reactive protein|G> levels",
                "~the Psoriasis Area and Severity Index#psoriasis;psoriatic arthritis",
                "~the Crohn 's Disease Activity Index#Crohn 's disease", "-<interleukin-6|G> production",
                "-serum <uric acid|C> levels#gout", "+rates of clinical remission#Crohn 's disease;ulcerative colitis",
                "-pain scores#osteoarthritis;rheumatoid arthritis;ankylosing spondylitis;gout",
                "-itch scores#atopic dermatitis;allergic rhinitis;psoriasis", "~health-related quality of life"],
        "resp": ["+forced expiratory volume in 1 second#asthma;chronic obstructive pulmonary disease;cystic fibrosis",
                 "-the rate of exacerbations#asthma;chronic obstructive pulmonary disease;cystic fibrosis",
                 "-sweat <chloride|C> concentration#cystic fibrosis",
                 "~scores on the Asthma Control Questionnaire#asthma",
                 "-the decline in forced vital capacity#idiopathic pulmonary fibrosis;pulmonary fibrosis;silicosis",
                 "~scores on the COPD Assessment Test#chronic obstructive pulmonary disease",
                 "-nasal symptom scores#allergic rhinitis", "~health-related quality of life"],
        "ren": ["-<proteinuria|D>", "+the estimated glomerular filtration rate", "-serum <creatinine|C> levels",
                "-<albuminuria|D>", "-serum <phosphate|C> levels#chronic kidney disease",
                "+kidney function", "-total kidney volume#polycystic kidney disease",
                "-the rate of stone recurrence#nephrolithiasis"],
        "hem": ["+<haemoglobin|G> concentrations#anaemia;iron deficiency anaemia;sickle cell"
                " disease;beta-thalassaemia;chronic kidney disease",
                "-transfusion requirements#beta-thalassaemia;sickle cell disease;myelofibrosis;anaemia",
                "-serum <ferritin|G> levels#hereditary haemochromatosis;beta-thalassaemia",
                "-the frequency of vaso-occlusive crises#sickle cell disease",
                "+platelet counts#immune thrombocytopenia",
                "-the annualised bleeding rate#haemophilia A;von Willebrand disease",
                "-haematocrit#polycythaemia vera", "-spleen volume#myelofibrosis", "~health-related quality of life"],
    },
    "PROC": {
        "met": ["glucose homeostasis", "lipid metabolism", "<insulin|G> secretion", "energy expenditure",
                "adipocyte differentiation", "hepatic gluconeogenesis", "fatty acid oxidation", "thermogenesis"],
        "cv": ["vascular tone", "cardiac contractility", "platelet activation", "endothelial function",
               "cardiac remodelling", "blood pressure regulation", "angiogenesis"],
        "onc": ["cell cycle progression", "DNA repair", "apoptosis", "angiogenesis", "genomic stability",
                "epithelial-mesenchymal transition", "cell proliferation", "immune evasion"],
        "neu": ["synaptic plasticity", "neuronal survival", "axonal transport", "autophagy", "myelination",
                "mitochondrial quality control", "neurotransmitter release", "protein aggregation"],
        "psy": ["synaptic plasticity", "stress responses", "reward processing", "monoamine signalling",
                "circadian rhythms"],
        "inf": ["viral replication", "viral entry", "bacterial clearance", "innate immunity", "phagocytosis",
                "interferon signalling"],
        "imm": ["inflammatory signalling", "T cell activation", "cytokine production", "innate immunity",
                "leukocyte recruitment", "inflammasome activation", "B cell differentiation"],
        "resp": ["airway inflammation", "mucociliary clearance", "epithelial ion transport",
                 "fibroblast activation", "airway remodelling", "<chloride|C> secretion"],
        "ren": ["podocyte survival", "tubular transport", "<sodium|C> reabsorption",
                "<phosphate|C> homeostasis", "glomerular filtration"],
        "hem": ["erythropoiesis", "<iron|C> homeostasis", "haemostasis", "platelet production",
                "fetal <haemoglobin|G> production", "coagulation"],
    },
    "CELL": {
        "met": ["HepG2 cells", "3T3-L1 adipocytes", "primary hepatocytes", "C2C12 myotubes", "INS-1 cells",
                "MIN6 cells", "HEK293 cells"],
        "cv": ["human umbilical vein endothelial cells", "H9c2 cardiomyocytes", "vascular smooth muscle cells",
               "primary cardiomyocytes", "HEK293 cells"],
        "onc": ["MCF-7 cells", "A549 cells", "HeLa cells", "HCT116 cells", "PC-3 cells", "U87 cells",
                "SK-MEL-28 cells", "HEK293 cells"],
        "neu": ["SH-SY5Y cells", "PC12 cells", "primary cortical neurons", "primary astrocytes", "BV-2 microglia"],
        "psy": ["SH-SY5Y cells", "primary hippocampal neurons", "PC12 cells"],
        "inf": ["THP-1 macrophages", "RAW 264.7 macrophages", "Vero E6 cells", "peripheral blood mononuclear cells"],
        "imm": ["THP-1 macrophages", "RAW 264.7 macrophages", "Jurkat T cells",
                "peripheral blood mononuclear cells", "bone marrow-derived macrophages"],
        "resp": ["BEAS-2B bronchial epithelial cells", "primary lung fibroblasts", "Calu-3 cells", "A549 cells"],
        "ren": ["HK-2 proximal tubular cells", "cultured podocytes", "mesangial cells", "HEK293 cells"],
        "hem": ["K562 cells", "HUDEP-2 cells", "erythroid progenitors", "primary megakaryocytes"],
    },
    "CELLOUT": {
        "met": ["lipid accumulation", "<glucose|C> uptake", "mitochondrial respiration", "cell viability"],
        "cv": ["tube formation", "cell migration", "cell viability", "hypertrophic growth"],
        "onc": ["cell viability", "apoptosis", "cell migration", "invasion", "colony formation"],
        "neu": ["neurite outgrowth", "cell viability", "apoptosis"],
        "psy": ["neurite outgrowth", "cell viability"],
        "inf": ["cytokine release", "phagocytosis", "viral replication"],
        "imm": ["cytokine release", "phagocytosis", "cell proliferation"],
        "resp": ["cell viability", "collagen deposition", "cell migration"],
        "ren": ["cell viability", "apoptosis", "cell migration"],
        "hem": ["erythroid differentiation", "cell proliferation", "apoptosis"],
    },
    "ANIMAL": {
        "met": ["db/db mice", "ob/ob mice", "mice fed a high-fat diet", "Zucker diabetic fatty rats",
                "C57BL/6 mice", "Wistar rats"],
        "cv": ["spontaneously hypertensive rats", "mice subjected to transverse aortic constriction",
               "C57BL/6 mice", "Sprague-Dawley rats"],
        "onc": ["athymic nude mice", "BALB/c mice", "C57BL/6 mice"],
        "neu": ["C57BL/6 mice", "Sprague-Dawley rats", "aged rats", "Wistar rats"],
        "psy": ["C57BL/6 mice", "Sprague-Dawley rats", "mice exposed to chronic social defeat stress"],
        "inf": ["C57BL/6 mice", "BALB/c mice", "golden Syrian hamsters"],
        "imm": ["C57BL/6 mice", "BALB/c mice", "DBA/1 mice", "Lewis rats"],
        "resp": ["C57BL/6 mice", "BALB/c mice", "Sprague-Dawley rats"],
        "ren": ["C57BL/6 mice", "Sprague-Dawley rats", "Wistar rats"],
        "hem": ["C57BL/6 mice", "Townes mice", "BALB/c mice"],
    },
    "CT": {
        "met": ["hepatocytes", "adipocytes", "pancreatic beta cells", "skeletal muscle"],
        "cv": ["cardiomyocytes", "endothelial cells", "vascular smooth muscle cells", "platelets"],
        "onc": ["tumour cells", "cancer-associated fibroblasts", "epithelial cells"],
        "neu": ["neurons", "astrocytes", "microglia", "oligodendrocytes"],
        "psy": ["neurons", "the prefrontal cortex", "the hippocampus"],
        "inf": ["macrophages", "airway epithelial cells", "dendritic cells"],
        "imm": ["T cells", "macrophages", "B cells", "neutrophils"],
        "resp": ["airway epithelial cells", "lung fibroblasts", "alveolar macrophages"],
        "ren": ["podocytes", "proximal tubular cells", "mesangial cells"],
        "hem": ["erythroid progenitors", "haematopoietic stem cells", "megakaryocytes"],
    },
    "TISSUE": {
        "met": ["liver tissue", "adipose tissue", "skeletal muscle", "plasma"],
        "cv": ["the left ventricle", "aortic tissue", "plasma"],
        "onc": ["tumour tissue", "plasma"],
        "neu": ["the striatum", "the hippocampus", "cerebrospinal fluid"],
        "psy": ["the prefrontal cortex", "the hippocampus", "plasma"],
        "imm": ["synovial fluid", "plasma", "colonic tissue"],
        "resp": ["bronchoalveolar lavage fluid", "lung tissue", "sputum"],
        "ren": ["the kidney cortex", "urine", "plasma"],
        "hem": ["bone marrow", "plasma"],
    },
    "SURV": {
        "onc": ["progression-free survival", "overall survival", "disease-free survival", "event-free survival"],
        "hem": ["progression-free survival", "overall survival", "event-free survival"],
        "cv": ["event-free survival", "overall survival"],
        "neu": ["overall survival", "time to first relapse"],
        "ren": ["renal survival", "dialysis-free survival"],
        "inf": ["overall survival", "time to viral suppression"],
        "resp": ["overall survival", "time to first exacerbation"],
        "imm": ["time to first flare", "relapse-free survival"],
    },
    "COHORT": {
        "met": ["the UK Biobank", "NHANES", "the Framingham Heart Study"],
        "cv": ["the UK Biobank", "the Framingham Heart Study", "the ARIC study", "the Women 's Health Initiative"],
        "onc": ["the Nurses ' Health Study", "the UK Biobank", "the European Prospective Investigation into Cancer"],
        "neu": ["the Rotterdam Study", "the UK Biobank", "the Three-City Study"],
        "psy": ["the Psychiatric Genomics Consortium", "the UK Biobank", "the Danish National Patient Registry"],
        "inf": ["the Danish National Patient Registry", "the Million Veteran Program"],
        "imm": ["FinnGen", "the UK Biobank", "the Danish National Patient Registry"],
        "resp": ["the UK Biobank", "the HUNT Study", "FinnGen"],
        "ren": ["the CKD Prognosis Consortium", "the UK Biobank", "the Million Veteran Program"],
        "hem": ["the UK Biobank", "FinnGen"],
    },
    "CLINIC": {
        "met": ["diabetes clinic", "obesity clinic", "endocrine clinic"],
        "cv": ["heart failure clinic", "anticoagulation clinic", "hypertension clinic"],
        "onc": ["cancer centre", "oncology clinic", "breast cancer screening programme"],
        "neu": ["memory clinic", "epilepsy clinic", "stroke unit", "movement disorders clinic"],
        "psy": ["psychiatric outpatient clinic", "addiction service"],
        "inf": ["tuberculosis clinic", "HIV clinic", "travel clinic"],
        "imm": ["rheumatology clinic", "inflammatory bowel disease clinic", "psoriasis clinic"],
        "resp": ["asthma clinic", "cystic fibrosis centre", "pulmonary rehabilitation programme"],
        "ren": ["dialysis unit", "renal clinic", "kidney transplant programme"],
        "hem": ["haemophilia treatment centre", "sickle cell clinic", "anaemia clinic"],
    },
    "IMG": {
        "neu": ["Brain MRI", "Spinal MRI", "Amyloid PET"],
        "cv": ["Echocardiographic", "Cardiac MRI", "Coronary CT angiography"],
        "onc": ["CT", "PET-CT"],
        "resp": ["High-resolution CT", "Chest CT"],
        "met": ["Liver MRI", "Abdominal ultrasound"],
    },
}

_ASSAYS = ["quantitative PCR", "RT-PCR", "Western blotting", "ELISA", "immunohistochemistry", "flow cytometry",
           "RNA-seq", "mass spectrometry", "luciferase reporter assays", "chromatin immunoprecipitation",
           "confocal microscopy", "Sanger sequencing", "immunofluorescence", "single-cell RNA-seq", "MTT assays"]
_SURNAMES = ["Halvorsen", "Marchetti", "Okafor", "Lindqvist", "Bergstrom", "Castellano", "Moreau", "Novak",
             "Ferreira", "Kowalski", "Brennan", "Takeda", "Oyelaran", "Sandoval", "Ashworth", "Delacroix",
             "Pellegrini", "Haddad", "Nakamura", "Rasmussen", "Ivanova", "Quintero", "Weissman", "Dufresne",
             "Albrecht", "Whitcombe", "Kaplan", "Mendes", "Sorensen", "Varga", "Lindgren", "Petrakis",
             "Olsen", "Brandt", "Costa", "Hartmann", "Keller", "Morozov", "Salazar", "Tanaka"]
_MODIFIERS = {"k": ["early-onset", "advanced", "metastatic", "recurrent", "newly diagnosed", "locally advanced"],
              "c": ["severe", "moderate-to-severe", "newly diagnosed", "long-standing", "mild"],
              "g": ["paediatric", "adult-onset"]}
_AA = "ACDEFGHIKLMNPQRSTVWY"

# NER sentence templates. Syntax: $SLOT, [optional], {alt|ernatives}, <inline entity|C/D/G>; an "@areas:" prefix
# restricts the therapeutic areas a template may be used with. Slots: IC/ICM/IC2 a drug (ICM: single drug) used
# for the bound disease, ID/MID (MID: with a clinical modifier) a disease the bound drug treats, CM a single drug,
# G/GI/GS/TF genes (GI: not secreted, GS: circulating proteins, TF: transcription factors), DX a disease patients
# are treated for, A/A2 adverse events of the bound drug; the others are linked pairs or non-entity fillers.
_NER_TEMPLATES = [
    # --- clinical treatment
    "Treatment with $IC $EOUT in patients with $MID [ $P ] .",
    "{In|Among} patients with $MID , $IC {significantly|modestly} $EOUT [ compared with placebo ] [ $P ] .",
    "Patients with $MID were randomly assigned to receive $ICM ( $DD ) or placebo for $TIME .",
    "Patients with $ID were randomly assigned to receive $IC or $IC2 [ , and the primary end point was $OUT ] .",
    "@onc,hem: Patients with $MID who received $IC had longer $SURV than those who received $IC2 [ $HR ] .",
    "$IC $NOUT in patients with $MID [ at $TIME ] .",
    "In the $TRIAL trial , $C $EOUT in patients with $MID [ compared with placebo ] .",
    "Add-on therapy with $IC was well tolerated in patients with $ID who were {already receiving|intolerant of} $IC2 .",
    "These results suggest that $IC may {be beneficial|offer a new therapeutic option} for patients with $MID"
    " [ who do not respond to $IC2 ] .",
    "$ICM was {initiated|titrated} at $DD in {patients|adults|older adults} with {newly diagnosed|established} $ID .",
    "Patients with $ID were treated with {recombinant human|exogenous} $PD for $TIME [ in addition to standard care"
    " ] .",
    "A $AGESEX with $ID presented with {worsening|acute} symptoms after {starting|discontinuing} $IC .",
    "The $SCALE score improved by $NUM points in patients with $SD who received $IC [ compared with placebo ] .",
    "@neu,cv,onc,resp,met: $IMG findings in patients with $ID did not differ between those treated with $IC and"
    " those treated with $IC2 .",
    "Polymorphisms in the $G gene were not associated with the response to $IC in patients with $ID .",
    "In a cohort of $N patients with $ID , {baseline|pretreatment} $G {levels|expression} predicted"
    " {response|resistance} to $IC .",
    # --- adverse events
    "The most common adverse events {of|associated with} $C were $A and $A2 .",
    "$A occurred in $PCT of patients receiving $C [ and led to treatment discontinuation in $PCT ] .",
    "We report a case of $A in a $AGESEX receiving $C for $ID .",
    "Concomitant use of $C and $C2 increased the risk of $A [ $CIUP ] .",
    "The incidence of $A was higher with $C than with $C2 $PCTPAIR .",
    "$A is a rare but serious complication of {treatment|therapy} with $C .",
    "{Patients receiving|Users of} $C should be monitored for $A [ , particularly during the first $TIME of"
    " treatment ] .",
    "$C was discontinued because of $A , and the patient recovered within $RTIME .",
    "$C can lead to $A , which may lead to treatment discontinuation .",
    # --- pharmacology and models
    "$C , which targets $TG , {is approved|was developed|is being evaluated} for the treatment of $ID .",
    "$C binds to $TG with high affinity [ ( Kd = $NM nM ) ] .",
    "$CM is metabolised {mainly|predominantly} by $CYP , and {inhibitors|strong inhibitors} of this enzyme increase"
    " plasma $CM concentrations .",
    "Genetic variants in $CYP {alter|influence} the {clearance|metabolism} of $CM [ and may increase the risk of $A"
    " ] .",
    "$CM ( $DOSE ) was administered {intraperitoneally|orally|by oral gavage} to $ANIMAL for $ATIME .",
    "Administration of $CM at $DOSE {attenuated|prevented|reduced the severity of} $TD induced by $T in $ANIMAL .",
    "$ANIMAL treated with $T developed $TD within $ATIME .",
    "Mice lacking $G were {protected from|more susceptible to} $TD induced by $T .",
    "Mice lacking $G spontaneously developed $DX by $NUM months of age .",
    "{Chronic|Long-term|Occupational} exposure to $X has been linked to $XD [ in several cohort studies ] .",
    "Urinary $XU concentrations were {positively associated|associated} with the risk of $XD in $COHORT .",
    # --- molecular biology
    "$CM inhibited the phosphorylation of $GI in $CELL [ , as measured by $PASSAY ] .",
    "$CM {upregulated|downregulated|suppressed|induced} $G and $G2 in $CELL in a dose-dependent manner .",
    "Knockdown of $GI by siRNA {reduced|abolished|enhanced} the effect of $CM on $CELLOUT in $CELL .",
    "$CM {increased|decreased} the expression of $G through a mechanism {involving|that requires} $GI .",
    "$CM {reversed|prevented} the {increase|decrease} in $G expression induced by $T .",
    "Western blot analysis showed that $CM increased $GI protein levels [ in a time-dependent manner ] .",
    "We identified $N differentially expressed genes , including $G , $G2 and $G3 , in $CELL exposed to $CM .",
    "$GI interacts with $GI2 [ and promotes its {degradation|nuclear translocation} ] [ , as shown by"
    " co-immunoprecipitation ] .",
    "$GI and $GI2 form a complex that regulates $PROC [ in $CT ] .",
    "$G is a {key|central|negative} regulator of $PROC [ , and its loss contributes to $D ] .",
    "Deletion of $GI in $CT {impaired|enhanced|did not affect} $PROC in vivo .",
    "The $G promoter contains binding sites for $TF [ and $TF2 ] .",
    "Gene expression was quantified by {quantitative PCR|RT-PCR|RNA-seq} and normalised to"
    " {<GAPDH|G>|<beta-actin|G>} .",
    "$LIG {binds to|activates} $REC [ and {modulates|regulates} $PROC ] [ in $CT ] .",
    "$LIG signalling through $REC is {impaired|enhanced} in $CT from patients with $DX .",
    "The $SYM gene encodes $PROT , which is {involved in|required for} $PROC .",
    "{Serum|Plasma} $GS levels were {higher|lower} in patients with $MD than in {healthy|age-matched} controls [ $P"
    " ] .",
    "We measured serum $GS {levels|concentrations} by $SASSAY in $N patients with $DX and $N healthy controls .",
    "$G expression was {markedly|significantly} {increased|decreased} in {tissue|biopsy} samples from patients"
    " with $D .",
    "@onc,hem: Expression of $G was {inversely|positively} correlated with $SURV in patients with $K [ ( n = $N ) ] .",
    "@onc,hem: $GI {amplification|overexpression} was detected in $PCT of $K samples by $TASSAY .",
    "@onc,hem: Methylation of the $G promoter was more frequent in $K than in adjacent normal tissue .",
    "$GI signalling is {aberrantly activated|frequently dysregulated} in $D [ , making it an attractive therapeutic"
    " target ] .",
    "{Elevated|Reduced} $GI activity has been reported in $D , {but|although} its role in $PROC remains unclear .",
    "These findings suggest that $G may be a therapeutic target in $D .",
    "@onc,inf: Resistance to $CM was associated with {the $VAR mutation in|amplification of|loss of} $GI .",
    # --- genetics
    "Mutations in $G were associated with [ early-onset ] $D [ in $COHORT ] .",
    "$GD is caused by {mutations|pathogenic variants|biallelic variants} in $GG .",
    "{A|The} {loss-of-function|missense|nonsense|frameshift|de novo} variant in $GG was identified in"
    " {two siblings|a consanguineous family|three unrelated patients|a child} with $GD .",
    "Whole-exome sequencing identified a {novel|homozygous|heterozygous} $VAR variant in $GG in a {family|patient}"
    " with $GD .",
    "Pathogenic variants in $GG account for {most|a minority of|about half of} cases of $GD .",
    "In $COHORT , carriers of the $SNP allele in $G had a higher risk of $DX [ $CIUP ] .",
    "A genome-wide association study in $COHORT identified a {novel|new} locus near $G associated with $DX .",
    # --- biomarkers and epidemiology
    "Measurement of $BM is {routinely|widely} used to {diagnose|monitor} $BD .",
    "Serum $BM was measured by $SASSAY before and $TIME after initiation of $IC in patients with $BD .",
    "{Elevated|High} $BM levels {at admission|at baseline} predicted {mortality|poor outcome} in patients with $BD .",
    "The prevalence of $DX was $PCT among adults in $COHORT .",
    "$DX remains a major {cause of morbidity|public health problem|clinical challenge} , and {new|more effective}"
    " therapies are needed .",
    "Data were obtained from $COHORT , which included $NC participants [ with $DX ] .",
    "$DEFD was defined as $DEF .",
    "{Plasma|Serum} $E concentrations were {higher|lower} in patients with $DX than in controls [ $P ] .",
    "{Dietary|Habitual} intake of $NUTR was inversely associated with the risk of $DX [ $CIDOWN ] .",
    "$E levels in $TISSUE were measured by $CASSAY [ after treatment with $CM ] .",
    # --- methods / distractor-heavy sentences
    "Patients were recruited from the $CLINIC {of a university hospital|at a tertiary centre} $PERIOD .",
    "@cv: Stroke volume and cardiac output were measured by {echocardiography|cardiac MRI|right heart"
    " catheterisation} in patients with {<heart failure|D>|<aortic stenosis|D>|<pulmonary hypertension|D>|"
    "<dilated cardiomyopathy|D>} .",
    "@neu: Data from the Alzheimer 's Disease Neuroimaging Initiative showed that {higher|lower} plasma $GS levels"
    " were associated with {faster|slower} cognitive decline .",
    "Patients who met the inclusion criteria were enrolled $PERIOD [ at $NUM centres ] .",
    "{Cytokine|Hormone} concentrations were measured with a commercial ELISA kit according to the manufacturer"
    " 's instructions .",
    "All analyses were performed with {SPSS version 25|R version 4.1|SAS 9.4} , and P values below 0.05 were"
    " considered significant .",
    "Blood pressure was measured after $NUM minutes of rest in the seated position .",
    "The validation set comprised $N patients from {an independent cohort|two external centres} .",
    "Sleep disruption may alter the circadian clock and {increase|raise} the risk of $DX .",
    "Disease duration was {longer|shorter} in patients with $DX [ who carried the $SNP allele ] .",
    # --- longer, multi-clause sentences
    "In this {randomised|double-blind|multicentre} trial of $NT patients with $MID , $IC $EOUT at $TIME"
    " [ , whereas no significant effect was observed on $OUT ] [ $P ] .",
    "Although $IC is widely used in patients with $ID , its effects on $OUT [ and on long-term survival ] remain"
    " {controversial|poorly understood} .",
    "Compared with {healthy|matched} controls , patients with $DX had {higher|lower} serum $GS levels [ $P ] , which"
    " correlated with {disease severity|disease duration} [ and with $OUT ] .",
    "After adjustment for age , sex and body mass index , {higher|lower} plasma $E concentrations were associated"
    " with an increased risk of $DX in $COHORT [ $CIUP ] .",
    "We performed a retrospective cohort study of $NC adults in $COHORT to examine whether use of $C was associated"
    " with the risk of $A [ and $A2 ] .",
    "Mechanistically , $GI {binds to|stabilises|promotes the degradation of} $GI2 , leading to {impaired|enhanced}"
    " $PROC [ in $CT ] [ and accelerated progression of $D ] .",
    "@onc,hem: The combination of $IC and $IC2 {prolonged|improved} $SURV compared with $IC alone in patients with"
    " $MID [ $HR ] .",
    "@onc: {Analysis of|Data from} The Cancer Genome Atlas showed that $G is {frequently mutated|overexpressed} in"
    " $K .",
    "Using $ASSAY and $PASSAY , we showed that $CM {suppresses|enhances} $GI signalling in $CELL , which in turn"
    " {reduces|promotes} $CELLOUT [ in a dose-dependent manner ] .",
    "In $ANIMAL , {genetic deletion|pharmacological inhibition} of $GI {attenuated|exacerbated} $TD induced by $T"
    " [ , accompanied by reduced expression of $G and $G2 ] .",
    "Of the $NT patients with $MID enrolled at $NUM centres , those who received $IC {showed|did not show} a"
    " {greater|sustained} $CHANGE [ at $TIME ] .",
]

# Linked-pair tables, in priority order: the two slots each binds, and the slots that make a template use it.
_PAIR_BIND = {"cyp": ("CYP", "CM"), "tgt": ("C", "TG"), "trial": ("TRIAL", "C"), "ade": ("C", "A"),
              "bio": ("BM", "BD"), "scale": ("SCALE", "SD"), "indp": ("PD", "ID"), "gen": ("GD", "GG"),
              "lig": ("LIG", "REC"), "tox": ("T", "TD"), "envu": ("XU", "XD"), "env": ("X", "XD"),
              "sym": ("SYM", "PROT"), "def": ("DEFD", "DEF"), "ind": ("IC", "ID")}
_PAIR_TRIGGER = {"CYP": "cyp", "TG": "tgt", "TRIAL": "trial", "A": "ade", "BM": "bio", "BD": "bio",
                 "SCALE": "scale", "SD": "scale", "PD": "indp", "GD": "gen", "GG": "gen", "LIG": "lig", "T": "tox",
                 "TD": "tox", "XU": "envu", "X": "env", "SYM": "sym", "DEFD": "def", "IC": "ind", "ICM": "ind",
                 "ID": "ind", "MID": "ind"}
_PAIR_SLOT_NAMES = frozenset(n for pair in _PAIR_BIND.values() for n in pair)
# Ordinary entity slots: slot -> (type, kinds to include, kinds to exclude).
_ENT_SLOTS = {
    "C": (_CHEM, "dc", ""), "C2": (_CHEM, "dc", ""), "CM": (_CHEM, "d", ""), "E": (_CHEM, "e", ""),
    "NUTR": (_CHEM, "n", ""),
    "G": (_GENE, "g", ""), "G2": (_GENE, "g", ""), "G3": (_GENE, "g", ""), "GI": (_GENE, "g", "s"),
    "GI2": (_GENE, "g", "s"), "GS": (_GENE, "s", ""), "TF": (_GENE, "t", ""), "TF2": (_GENE, "t", ""),
    "CYP": (_GENE, "y", ""),
    "D": (_DIS, "ck", "m"), "DX": (_DIS, "", ""), "K": (_DIS, "k", ""), "A": (_DIS, "a", ""), "A2": (_DIS, "a", ""),
    "IC": (_CHEM, "dcp", ""), "ICM": (_CHEM, "d", ""), "IC2": (_CHEM, "dcp", ""), "ID": (_DIS, "", ""),
}
_DRUG_SLOTS = ("IC", "ICM", "C", "CM", "PD")
_DISEASE_SLOTS = ("ID", "SD", "BD")
_ASSAY_SETS = {
    "ASSAY": _ASSAYS,
    "SASSAY": ["ELISA", "a chemiluminescent immunoassay", "a high-sensitivity immunoassay", "mass spectrometry"],
    "CASSAY": ["mass spectrometry", "HPLC", "liquid chromatography-tandem mass spectrometry", "a colorimetric assay"],
    "PASSAY": ["Western blotting", "phospho-flow cytometry", "mass spectrometry", "immunofluorescence"],
    "TASSAY": ["immunohistochemistry", "fluorescence in situ hybridisation", "next-generation sequencing",
               "quantitative PCR"],
}
_TOKEN_RE = re.compile(r"<[^<>]+\|[CDG]>|\[|\]|\{|\}|\||\$[A-Z][A-Z0-9_]*|[^\s\[\]{}|]+")


class _Ent:
    """A lexicon entry: a surface form with its entity type, therapeutic areas and kinds."""

    __slots__ = ("name", "toks", "etype", "areas", "kinds", "flags", "targets", "novel")

    def __init__(self, name, etype, areas, kinds, flags=(), targets=(), novel=False):
        self.name = name
        self.toks = tuple(name.split())
        self.etype = etype
        self.areas = tuple(areas)
        self.kinds = kinds
        self.flags = tuple(flags)
        self.targets = tuple(targets)
        self.novel = novel


def _parse_lexicon(block: str, etype: str) -> list[_Ent]:
    """Parse one lexicon block ("@areas" headers, then "name|kinds|flags|targets|+areas" lines)."""
    out, areas, seen = [], ("met",), set()
    for raw in block.strip().splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("@"):
            areas = tuple(line[1:].split(","))
            continue
        parts = line.split("|") + [""] * 5
        name, kinds, flags, targets, extra = (p.strip() for p in parts[:5])
        if etype != _CHEM:  # disease and gene lines have no targets column
            extra = extra or targets
            targets = ""
        if name in seen:
            raise ValueError(f"duplicate lexicon entry {name!r}")
        seen.add(name)
        ent_areas = areas + tuple(a for a in extra.split(",") if a and a not in areas)
        out.append(_Ent(name, etype, ent_areas, kinds or "g",
                        tuple(f for f in flags.split(",") if f), tuple(t for t in targets.split(";") if t)))
    return out


def _parse_pairs(block: str, sep: str = "|") -> list[list[str]]:
    return [[p.strip() for p in line.split(sep)] for line in block.strip().splitlines() if line.strip()]


@functools.lru_cache(maxsize=None)
def _parse_template(text: str) -> list:
    """Parse the template mini-language into a nested node list."""
    toks = _TOKEN_RE.findall(text)
    pos = 0

    def seq(stop: tuple[str, ...]) -> list:
        nonlocal pos
        nodes = []
        while pos < len(toks) and toks[pos] not in stop:
            t = toks[pos]
            pos += 1
            if t == "[":
                inner = seq(("]",))
                pos += 1
                nodes.append(("opt", inner))
            elif t == "{":
                alts = [seq(("|", "}"))]
                while toks[pos] == "|":
                    pos += 1
                    alts.append(seq(("|", "}")))
                pos += 1
                nodes.append(("alt", alts))
            elif t.startswith("<") and t.endswith(">") and len(t) > 1:
                body, code = t[1:-1].rsplit("|", 1)
                nodes.append(("ent", tuple(body.split()), _TYPE_CODE[code]))
            elif t.startswith("$"):
                nodes.append(("slot", t[1:]))
            else:
                nodes.append(("w", t))
        return nodes

    nodes = seq(())
    if pos != len(toks):
        raise ValueError(f"unbalanced template: {text}")
    return nodes


def _template_slots(nodes: list, acc: list) -> list:
    for node in nodes:
        if node[0] == "slot":
            acc.append(node[1])
        elif node[0] == "opt":
            _template_slots(node[1], acc)
        elif node[0] == "alt":
            for alt in node[1]:
                _template_slots(alt, acc)
    return acc


def _inline_entities(text: str) -> list[tuple[str, str]]:
    return [(m.rsplit("|", 1)[0][1:], _TYPE_CODE[m[-2]]) for m in re.findall(r"<[^<>]+\|[CDG]>", text)]


# ----------------------------------------------------------------------------- novel names
_GENE_FAMILIES = ["TMEM", "ZNF", "CCDC", "LRRC", "ANKRD", "TRIM", "USP", "KLHL", "WDR", "PRDM", "RNF", "DNAJC",
                  "TBC1D", "ARHGAP", "ZBTB", "MFSD", "SPATA", "ADAMTS", "PPP1R", "RBM"]
_ONSETS = ["b", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "z", "c", "br", "tr", "pr", "cl", "k", "x"]
_VOWELS = ["a", "e", "i", "o", "u", "a", "e", "o"]
_CHEM_SUFFIXES = [("tinib", "onc"), ("ciclib", "onc"), ("parib", "onc"), ("zumab", "onc"), ("umab", "imm"),
                  ("olol", "cv"), ("pril", "cv"), ("sartan", "cv"), ("xaban", "hem"), ("statin", "met"),
                  ("gliptin", "met"), ("gliflozin", "met"), ("glutide", "met"), ("previr", "inf"),
                  ("buvir", "inf"), ("floxacin", "inf"), ("conazole", "inf"), ("oxetine", "psy"),
                  ("peridone", "psy"), ("azepam", "psy"), ("lukast", "resp"), ("terol", "resp"),
                  ("vaptan", "ren"), ("citinib", "imm"), ("gepant", "neu"), ("triptan", "neu"), ("imod", "neu")]
_ORGAN_ADJ = [("hepatic", "met"), ("renal", "ren"), ("myocardial", "cv"), ("retinal", "neu"), ("cerebellar", "neu"),
              ("pulmonary", "resp"), ("cortical", "neu"), ("pancreatic", "met"), ("biliary", "met"),
              ("vascular", "cv"), ("epidermal", "imm"), ("muscular", "neu")]
_DIS_ADJ_G = ["congenital", "familial", "hereditary", "juvenile"]
_DIS_PATH_G = ["dysplasia", "dystrophy", "hypoplasia", "atrophy"]
_DIS_ADJ_C = ["idiopathic", "progressive", "chronic", "acquired"]
_DIS_PATH_C = ["fibrosis", "degeneration", "calcification", "sclerosis", "atrophy"]
_CANCER_SITES = ["ampullary", "appendiceal", "thymic", "adrenocortical", "urachal", "sinonasal", "tracheal",
                 "salivary duct", "vulvar", "biliary tract"]
_CANCER_HISTO = ["carcinoma", "adenocarcinoma", "sarcoma", "neuroendocrine tumour"]


def _novel_gene(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.55:
        return f"{rng.choice(_GENE_FAMILIES)}{rng.randint(2, 220)}"
    if r < 0.7:
        return f"SLC{rng.randint(1, 45)}A{rng.randint(1, 12)}"
    if r < 0.8:
        return f"FAM{rng.randint(20, 230)}{rng.choice('ABC')}"
    if r < 0.9:
        return f"C{rng.randint(1, 22)}orf{rng.randint(10, 180)}"
    return f"KIAA{rng.randint(100, 2026):04d}"


def _novel_chem(rng: random.Random) -> tuple[str, str]:
    suffix, area = rng.choice(_CHEM_SUFFIXES)
    stem = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(rng.choice((1, 2, 2))))
    if rng.random() < 0.4:
        stem += rng.choice(["l", "n", "r", "s", "x"])
    if stem[-1] in "aeiou" and suffix[0] in "aeiou":
        stem = stem[:-1]
    return stem + suffix, area


def _novel_disease(rng: random.Random, gene_names: list[str]) -> tuple[str, tuple[str, ...], str]:
    r = rng.random()
    if r < 0.3:
        name = rng.choice(_SURNAMES) + rng.choice([" syndrome", " disease", " 's disease"])
        return name, (rng.choice(_AREAS),), "g"
    if r < 0.55:
        organ, area = rng.choice(_ORGAN_ADJ)
        if rng.random() < 0.5:
            return f"{rng.choice(_DIS_ADJ_G)} {organ} {rng.choice(_DIS_PATH_G)}", (area,), "g"
        return f"{rng.choice(_DIS_ADJ_C)} {organ} {rng.choice(_DIS_PATH_C)}", (area,), "c"
    if r < 0.7 and gene_names:
        return f"{rng.choice(gene_names)} deficiency", (rng.choice(_AREAS),), "g"
    if r < 0.85:
        return f"{rng.choice(_CANCER_SITES)} {rng.choice(_CANCER_HISTO)}", ("onc",), "k"
    if rng.random() < 0.5:
        return f"spinocerebellar ataxia type {rng.randint(1, 48)}", ("neu",), "g"
    return f"Charcot-Marie-Tooth disease type {rng.randint(1, 4)}{rng.choice('ABCDEF')}", ("neu",), "g"


# ----------------------------------------------------------------------------- NER world
def _dx_kinds(area: str) -> str:
    """Kinds of disease patients in ``area`` are typically treated for (cancers in oncology)."""
    return {"onc": "k", "hem": "ck"}.get(area, "c")


class _NerWorld:
    """Lexicons, the seed-dependent train/validation/test partition of names, and novel names per split."""

    HOLDOUT = {"validation": 0.12, "test": 0.18}
    NOVEL = {"train": (90, 60, 50), "validation": (45, 30, 25), "test": (45, 30, 25)}

    def __init__(self, rng: random.Random):
        self.lex = {_CHEM: _parse_lexicon(_CHEM_LEX, _CHEM), _DIS: _parse_lexicon(_DIS_LEX, _DIS),
                    _GENE: _parse_lexicon(_GENE_LEX, _GENE)}
        self.by_name = {t: {e.name: e for e in ents} for t, ents in self.lex.items()}
        self.templates = []
        for text in _NER_TEMPLATES:
            areas = None
            if text.startswith("@"):
                head, text = text[1:].split(":", 1)
                areas = tuple(head.split(","))
            nodes = _parse_template(text.strip())
            slots = _template_slots(nodes, [])
            tables = [t for t in _PAIR_BIND if any(_PAIR_TRIGGER.get(s) == t for s in slots)]
            self.templates.append((nodes, tables[0] if tables else None, areas, "ICM" in slots))
        core: set[tuple[str, str]] = set()
        phrases = [p.split("#")[0] for group in _AREA_PHRASES.values() for ps in group.values() for p in ps]
        for text in _NER_TEMPLATES + [d for _, d in _parse_pairs(_DEFINITIONS, "::")] + phrases:
            core.update(_inline_entities(text))
        # Partition real names: ambiguous/core names always in train; the rest is held out per split by area.
        self.split_of: dict[tuple[str, str], str] = {}
        for etype, ents in self.lex.items():
            by_area: dict[str, list[_Ent]] = {}
            for e in ents:
                if "amb" in e.flags or "core" in e.flags or (e.name, etype) in core or e.kinds == "y":
                    self.split_of[(e.name, etype)] = "train"
                else:
                    by_area.setdefault(e.areas[0], []).append(e)
            for area in _AREAS:
                group = by_area.get(area, [])
                rng.shuffle(group)
                n_test = round(len(group) * self.HOLDOUT["test"])
                n_val = round(len(group) * self.HOLDOUT["validation"])
                for i, e in enumerate(group):
                    self.split_of[(e.name, etype)] = "test" if i < n_test else (
                        "validation" if i < n_test + n_val else "train")
        # Novel, compositional names: disjoint between splits and from every real name.
        taken = {e.name.lower() for ents in self.lex.values() for e in ents}
        adverse = [e for e in self.lex[_DIS] if "a" in e.kinds]
        self.novel: dict[str, dict[str, list[_Ent]]] = {}
        self.novel_ade: dict[str, list[tuple[str, str]]] = {}
        for split, (n_gene, n_chem, n_dis) in self.NOVEL.items():
            genes, chems, dises = [], [], []
            while len(genes) < n_gene:
                name = _novel_gene(rng)
                if name.lower() not in taken:
                    taken.add(name.lower())
                    kinds = "gt" if name.startswith(("ZNF", "ZBTB", "PRDM")) else "g"
                    genes.append(_Ent(name, _GENE, rng.sample(_AREAS, 2), kinds, novel=True))
            while len(chems) < n_chem:
                name, area = _novel_chem(rng)
                if name.lower() not in taken and len(name) > 6:
                    taken.add(name.lower())
                    chems.append(_Ent(name, _CHEM, (area,), "d", novel=True))
            while len(dises) < n_dis:
                name, areas, kind = _novel_disease(rng, [g.name for g in genes])
                if name.lower() not in taken:
                    taken.add(name.lower())
                    dises.append(_Ent(name, _DIS, areas, kind, novel=True))
            ade = []
            for c in chems:  # a plausible target and adverse events for each novel drug
                pool = [g for g in genes if c.areas[0] in g.areas] or genes
                c.targets = (rng.choice(pool).name,)
                fitting = [a for a in adverse if c.areas[0] in a.areas] or adverse
                ade += [(c.name, a.name) for a in rng.sample(fitting, min(2, len(fitting)))]
            self.novel[split] = {_GENE: genes, _CHEM: chems, _DIS: dises}
            self.novel_ade[split] = ade
        P = _parse_pairs
        self.pairs_raw = {
            "cyp": [((y, _GENE), (c, _CHEM)) for y, cs in P(_CYP_PAIRS) for c in cs.split(";")],
            "tgt": [((e.name, _CHEM), (t, _GENE)) for e in self.lex[_CHEM] if e.kinds == "d" for t in e.targets],
            "trial": [((t, ""), (c, _CHEM)) for t, c in P(_TRIAL_PAIRS)],
            "ade": [((c, _CHEM), (d, _DIS)) for c, ds in P(_ADE_PAIRS) for d in ds.split(";")],
            "bio": [((g, _GENE), (d, _DIS)) for g, ds in P(_BIOMARKER_PAIRS) for d in ds.split(";")],
            "scale": [((sc, ""), (d, _DIS)) for sc, ds in P(_SCALE_PAIRS) for d in ds.split(";")],
            "ind": [((c, _CHEM), (d, _DIS)) for c, ds in P(_IND_PAIRS) for d in ds.split(";")],
            "gen": [((d, _DIS), (g, _GENE)) for d, gs in P(_GENETIC_PAIRS) for g in gs.split(";")],
            "lig": [((c, _CHEM), (g, _GENE)) for c, g in P(_LIGAND_PAIRS)],
            "tox": [((c, _CHEM), (d, _DIS)) for c, _a, ds in P(_TOXIN_PAIRS) for d in ds.split(";")],
            "env": [((c, _CHEM), (d, _DIS)) for c, ds, _u in P(_ENV_PAIRS) for d in ds.split(";")],
            "envu": [((c, _CHEM), (d, _DIS)) for c, ds, u in P(_ENV_PAIRS) if u for d in ds.split(";")],
            "sym": [((sy, _GENE), (pr, _GENE)) for sy, pr in P(_SYMBOL_PAIRS)],
        }
        for table in self.pairs_raw.values():
            for pair in table:
                for name, etype in pair:
                    if etype and name not in self.by_name[etype]:
                        raise ValueError(f"pair member {name!r} ({etype}) missing from lexicon")
        self.pairs_raw["indp"] = [p for p in self.pairs_raw["ind"] if "p" in self.by_name[_CHEM][p[0][0]].kinds]
        self.tox_area = {c: a for c, a, _ in P(_TOXIN_PAIRS)}
        self.definitions = P(_DEFINITIONS, "::")
        for d, _ in self.definitions:
            if d not in self.by_name[_DIS]:
                raise ValueError(f"defined disease {d!r} missing from lexicon")


class _SplitPools:
    """Entity pools for one split: names seen in train, names unseen in train, and linked pairs."""

    def __init__(self, world: _NerWorld, split: str, rng: random.Random):
        self.split = split
        self.seen: dict[str, list[_Ent]] = {}
        self.unseen: dict[str, list[_Ent]] = {}
        for etype, ents in world.lex.items():
            self.seen[etype] = [e for e in ents if world.split_of[(e.name, etype)] == "train"]
            held = [e for e in ents if world.split_of[(e.name, etype)] == split] if split != "train" else []
            self.unseen[etype] = held + world.novel[split][etype]
        self.seen_names = {(e.name, e.etype) for ents in self.seen.values() for e in ents}
        self.ent = {(e.name, e.etype): e for group in (self.seen, self.unseen) for ents in group.values()
                    for e in ents}
        allowed = set(self.ent)
        self.pairs: dict[str, list[tuple]] = {}
        for key, table in world.pairs_raw.items():
            rows = []
            for a, b in table:
                if not a[1]:  # first member is a non-entity name (trial, scale)
                    if b in allowed:
                        rows.append((a[0], self.ent[b]))
                elif a in allowed and b in allowed:
                    rows.append((self.ent[a], self.ent[b]))
            self.pairs[key] = rows
        novel = world.novel[split]
        self.pairs["tgt"] += [(c, self.ent[(c.targets[0], _GENE)]) for c in novel[_CHEM]]
        self.pairs["ade"] += [(self.ent[(c, _CHEM)], self.ent[(d, _DIS)]) for c, d in world.novel_ade[split]
                              if (d, _DIS) in allowed]
        # Indications for novel drugs, and drugs for novel diseases, drawn from what this split may use.
        dis_pool = self.seen[_DIS] + self.unseen[_DIS]
        drug_pool = [e for e in self.seen[_CHEM] + self.unseen[_CHEM] if e.kinds == "d"]
        for c in novel[_CHEM]:
            fitting = [d for d in dis_pool if c.areas[0] in d.areas and any(k in _dx_kinds(c.areas[0])
                                                                             for k in d.kinds)]
            for d in rng.sample(fitting, min(len(fitting), rng.randint(1, 3))):
                self.pairs["ind"].append((c, d))
        for d in novel[_DIS]:
            if d.kinds in ("c", "k"):
                fitting = [c for c in drug_pool if d.areas[0] in c.areas]
                for c in rng.sample(fitting, min(len(fitting), 2)):
                    self.pairs["ind"].append((c, d))
        genes = novel[_GENE]
        for d in novel[_DIS]:
            if d.kinds == "g" and genes:
                gene = next((g for g in genes if d.name.startswith(g.name + " ")), None)
                self.pairs["gen"].append((d, gene or genes[_stable_index(d.name, len(genes))]))
        self.pairs["def"] = [(self.ent[(d, _DIS)], defn) for d, defn in world.definitions if (d, _DIS) in allowed]
        self.ade_of: dict[str, list[_Ent]] = {}
        for c, d in self.pairs["ade"]:
            self.ade_of.setdefault(c.name, []).append(d)
        self.ind_of: dict[str, list[_Ent]] = {}
        self.drugs_for: dict[str, list[_Ent]] = {}
        for c, d in self.pairs["ind"]:
            self.ind_of.setdefault(c.name, []).append(d)
            self.drugs_for.setdefault(d.name, []).append(c)
        self.tox_area = world.tox_area
        self._memo: dict[tuple, list[_Ent]] = {}

    def is_unseen(self, ent) -> bool:
        return isinstance(ent, _Ent) and (ent.name, ent.etype) not in self.seen_names

    def candidates(self, which: str, etype: str, kinds: str, exclude: str, area: str | None) -> list[_Ent]:
        """Pool entries of ``etype`` with a matching kind and area (ambiguous names weighted by repetition)."""
        key = (which, etype, kinds, exclude, area)
        got = self._memo.get(key)
        if got is None:
            pool = self.seen[etype] if which == "seen" else self.unseen[etype]
            got = []
            for e in pool:
                if (any(k in kinds for k in e.kinds) and not any(k in exclude for k in e.kinds)
                        and (area is None or area in e.areas)):
                    got.extend([e] * (3 if "amb" in e.flags else 1))
            self._memo[key] = got
        return got


def _stable_index(text: str, n: int) -> int:
    """A process-independent index in ``range(n)`` derived from ``text`` (Python's str hash is salted)."""
    return sum((i + 1) * ord(ch) for i, ch in enumerate(text)) % n


class _Retry(Exception):
    """Raised when a template cannot be filled for the chosen area; the caller picks again."""


class _NerSentence:
    """Renders one template into (token, tag) pairs for one split."""

    P_UNSEEN = 0.38  # validation/test: chance a slot is filled with a name never seen in train
    P_NOVEL_TRAIN = 0.12  # train: chance a slot uses a compositional (novel) name

    def __init__(self, rng: random.Random, pools: _SplitPools):
        self.rng = rng
        self.pools = pools
        self.area = ""
        self.bound: dict[str, object] = {}
        self.out: list[tuple[str, str]] = []
        self.outcomes_used: list[str] = []

    def _prefer_unseen(self) -> bool:
        p = self.P_NOVEL_TRAIN if self.pools.split == "train" else self.P_UNSEEN
        return self.rng.random() < p

    def _used(self) -> set[str]:
        return {e.name for e in self.bound.values() if isinstance(e, _Ent)}

    def choose(self, options: list):
        """Pick from ``options``, favouring names unseen in train at the split's rate."""
        if not options:
            raise _Retry
        if self._prefer_unseen():
            fresh = [o for o in options if self.pools.is_unseen(o)]
            if fresh:
                return self.rng.choice(fresh)
        return self.rng.choice(options)

    def pick(self, etype: str, kinds: str, exclude: str, area: str | None) -> _Ent:
        """Choose an entity of ``etype`` not already used in this sentence."""
        used = self._used()
        for which in (["unseen", "seen"] if self._prefer_unseen() else ["seen"]):
            cands = [e for e in self.pools.candidates(which, etype, kinds, exclude, area) if e.name not in used]
            if cands:
                return self.rng.choice(cands)
        raise _Retry

    def choose_pair(self, table: str, areas: tuple[str, ...] | None, single_drug: bool) -> None:
        fresh = self._prefer_unseen()
        pairs = self._pairs(table, areas, single_drug, fresh)
        if fresh and not pairs:
            pairs = self._pairs(table, areas, single_drug, False)
        if not pairs:
            raise _Retry
        a, b = self.rng.choice(pairs)
        self.area = self._pair_area(table, a, b)
        first, second = _PAIR_BIND[table]
        self.bound[first] = a
        self.bound[second] = b
        if table == "ind":
            self.bound["ICM"] = a

    def _pairs(self, table: str, areas: tuple[str, ...] | None, single_drug: bool, fresh: bool) -> list:
        """The pairs of ``table`` usable here (memoised per split)."""
        key = ("pairs", table, areas, single_drug, fresh)
        got = self.pools._memo.get(key)
        if got is None:
            got = self.pools.pairs[table]
            if table == "ind" and single_drug:
                got = [p for p in got if p[0].kinds == "d"]
            if fresh:
                got = [p for p in got if any(self.pools.is_unseen(x) for x in p)]
            if areas:
                got = [p for p in got if self._pair_area(table, *p) in areas]
            self.pools._memo[key] = got
        return got

    def _pair_area(self, table: str, a, b) -> str:
        if table == "tox":
            return self.pools.tox_area.get(a.name, a.areas[0])
        if table in ("env", "envu", "trial", "scale", "ind", "indp", "bio"):
            return b.areas[0]
        return a.areas[0]

    # -- rendering
    def emit_entity(self, toks: tuple[str, ...], etype: str) -> None:
        for i, tok in enumerate(toks):
            self.out.append((tok, ("B-" if i == 0 else "I-") + etype))

    def emit_words(self, text: str) -> None:
        self.render(_parse_template(text))

    def render(self, nodes: list) -> None:
        for node in nodes:
            kind = node[0]
            if kind == "w":
                self.out.append((node[1], "O"))
            elif kind == "ent":
                self.emit_entity(node[1], node[2])
            elif kind == "opt":
                if self.rng.random() < 0.5:
                    self.render(node[1])
            elif kind == "alt":
                self.render(self.rng.choice(node[1]))
            else:
                self.slot(node[1])

    def outcome(self) -> tuple[str, str]:
        """An outcome phrase for the area, restricted to the bound disease when there is one."""
        options = _AREA_PHRASES["OUT"].get(self.area)
        if not options:
            raise _Retry
        disease = next((self.bound[k] for k in _DISEASE_SLOTS if k in self.bound), None)
        fitting, specific = [], []
        for phrase in options:
            text, _, only = phrase.partition("#")
            names = [n for item in only.split(";") if item
                     for n in (_OUTCOME_GROUPS[item[1:]] if item.startswith("@") else [item])]
            if disease is not None and disease.name in names:
                specific.append(text)
            if not names or (disease is not None and disease.name in names):
                fitting.append(text)
        if disease is not None:
            if specific and self.rng.random() < 0.7:  # prefer disease-specific outcomes when there are any
                fitting = specific
            # never "patients with proteinuria ... reduced proteinuria"
            fitting = [p for p in fitting if disease.name not in p] or fitting
        if not fitting:
            raise _Retry
        fitting = [p for p in fitting if p not in self.outcomes_used] or fitting
        phrase = self.rng.choice(fitting)
        self.outcomes_used.append(phrase)
        return phrase[0], phrase[1:]

    def slot(self, name: str) -> None:
        rng, area = self.rng, self.area
        if name in ("MD", "MID"):  # optional clinical modifier + disease
            ent = self.entity_for("DX" if name == "MD" else "ID")
            mods = _MODIFIERS.get(ent.kinds[0])
            if mods and rng.random() < 0.3:
                self.emit_words(rng.choice(mods))
            self.emit_entity(ent.toks, _DIS)
        elif name in _ENT_SLOTS or name in _PAIR_SLOT_NAMES:
            ent = self.entity_for(name)
            if isinstance(ent, str):  # a trial/scale name or a definition (text with inline entities)
                self.emit_words(ent)
                return
            etype = ent.etype
            if name == "LIG" and "p" in ent.kinds:  # protein hormones acting as ligands are proteins, not drugs
                etype = _GENE
            self.emit_entity(ent.toks, etype)
        elif name in ("EOUT", "NOUT"):
            sign, phrase = self.outcome()
            if name == "EOUT":
                verb = rng.choice({"-": ["reduced", "lowered", "decreased"], "+": ["improved", "increased"],
                                   "~": ["improved"]}[sign])
            else:
                verb = rng.choice({"-": ["did not reduce", "failed to reduce"], "+": ["did not improve",
                                   "failed to improve"], "~": ["did not improve"]}[sign])
            self.emit_words(f"{verb} {phrase}")
        elif name == "OUT":
            self.emit_words(self.outcome()[1])
        elif name == "CHANGE":  # "improvement in X" or, where lower is better, "reduction in X"
            sign, phrase = self.outcome()
            self.emit_words(f"{'reduction' if sign == '-' else 'improvement'} in {phrase}")
        elif name in _AREA_PHRASES:
            options = _AREA_PHRASES[name].get(area)
            if not options:
                raise _Retry
            self.emit_words(rng.choice(options))
        elif name in _ASSAY_SETS:
            self.emit_words(rng.choice(_ASSAY_SETS[name]))
        elif name == "N":
            n = rng.choice([rng.randint(12, 480), rng.randint(500, 9800)])
            self.out.append((f"{n:,}", "O"))
        elif name == "NT":  # trial size
            self.out.append((f"{rng.randint(120, 4800):,}", "O"))
        elif name == "NC":
            self.out.append((f"{rng.randint(5, 520) * 1000 + rng.randint(0, 999):,}", "O"))
        elif name == "NUM":
            self.out.append((str(rng.randint(2, 24)), "O"))
        elif name == "NM":
            self.out.append((str(rng.choice([0.4, 1.2, 2.5, 3.8, 7, 12, 35, 80])), "O"))
        elif name == "PCT":
            val = rng.choice([f"{rng.randint(2, 68)}", f"{rng.randint(1, 45)}.{rng.randint(1, 9)}"])
            self.emit_words(f"{val} %")
        elif name == "PCTPAIR":
            hi = rng.randint(6, 40)
            self.emit_words(f"( {hi}.{rng.randint(0, 9)} % versus {rng.randint(1, hi - 2)}.{rng.randint(0, 9)} % )")
        elif name == "P":
            self.emit_words(rng.choice(["( P < 0.001 )", "( P < 0.01 )", f"( P = 0.0{rng.randint(1, 4)} )",
                                        "( P < 0.05 )"]))
        elif name == "HR":
            est = rng.uniform(0.42, 0.88)
            self.emit_words(f"( hazard ratio {est:.2f} ; 95 % CI {est * rng.uniform(0.7, 0.9):.2f}-"
                            f"{min(0.99, est * rng.uniform(1.1, 1.3)):.2f} )")
        elif name in ("CI", "CIUP", "CIDOWN"):  # a ratio with its confidence interval (>1 for CIUP, <1 for CIDOWN)
            up = {"CIUP": True, "CIDOWN": False}.get(name, rng.random() < 0.5)
            est = rng.uniform(1.2, 2.9) if up else rng.uniform(0.45, 0.9)
            lo, hi = est * rng.uniform(0.7, 0.9), est * rng.uniform(1.1, 1.35)
            measure = rng.choice(["hazard ratio", "odds ratio", "relative risk"])
            self.emit_words(f"( {measure} {est:.2f} ; 95 % CI {lo:.2f}-{hi:.2f} )")
        elif name == "DOSE":
            self.emit_words(f"{rng.choice([1, 5, 10, 20, 25, 50, 100, 200])} mg/kg")
        elif name == "DD":
            self.emit_words(f"{rng.choice([2.5, 5, 10, 20, 40, 50, 100, 200, 500])} mg "
                            f"{rng.choice(['daily', 'twice daily', 'once daily'])}")
        elif name == "TIME":
            unit, lo, hi = rng.choice([("weeks", 2, 52), ("months", 2, 24), ("days", 3, 28), ("years", 2, 5)])
            self.emit_words(f"{rng.randint(lo, hi)} {unit}")
        elif name == "ATIME":  # duration of an animal experiment
            unit, lo, hi = rng.choice([("days", 3, 28), ("weeks", 2, 16)])
            self.emit_words(f"{rng.randint(lo, hi)} {unit}")
        elif name == "RTIME":
            unit, lo, hi = rng.choice([("days", 3, 14), ("weeks", 2, 6)])
            self.emit_words(f"{rng.randint(lo, hi)} {unit}")
        elif name == "PERIOD":
            start = rng.randint(2003, 2018)
            self.emit_words(f"between {start} and {start + rng.randint(2, 6)}")
        elif name == "AGESEX":
            self.emit_words(f"{rng.randint(19, 86)}-year-old {rng.choice(['woman', 'man'])}")
        elif name == "SNP":
            self.out.append((f"rs{rng.randint(100000, 99999999)}", "O"))
        elif name == "VAR":
            ref, alt = rng.sample(_AA, 2)
            var = rng.choice([f"{ref}{rng.randint(12, 1400)}{alt}",
                              "c.{}{}>{}".format(rng.randint(40, 4000), *rng.sample("ACGT", 2))])
            self.out.append((var, "O"))
        else:
            raise ValueError(f"unknown slot ${name}")

    def entity_for(self, name: str):
        if name in self.bound:
            return self.bound[name]
        if name not in _ENT_SLOTS:
            raise _Retry  # a pair slot whose pair was not chosen
        etype, kinds, exclude = _ENT_SLOTS[name]
        area, pools, used = self.area, self.pools, self._used()
        drug = next((self.bound[k] for k in _DRUG_SLOTS if k in self.bound), None)
        disease = next((self.bound[k] for k in _DISEASE_SLOTS if k in self.bound), None)
        if name in ("A", "A2"):  # adverse events of the bound drug, else ones fitting the area
            options = [d for d in pools.ade_of.get(getattr(drug, "name", ""), []) if d.name not in used]
            ent = self.choose(options) if options else self.pick(etype, kinds, exclude, area)
        elif name == "ID":  # a disease the bound drug treats
            if drug is None:
                ent = self.pick(_DIS, _dx_kinds(area), "am", area)
            else:
                ent = self.choose([d for d in pools.ind_of.get(drug.name, []) if d.name not in used])
        elif name in ("IC", "ICM", "IC2"):  # a drug used for the bound disease
            if disease is None:
                ent = self.pick(etype, kinds, exclude, area)
            else:
                ent = self.choose([c for c in pools.drugs_for.get(disease.name, [])
                                   if c.name not in used and any(k in kinds for k in c.kinds)])
        elif name == "DX":
            ent = self.pick(etype, _dx_kinds(area), "am", area)
        else:
            ent = self.pick(etype, kinds, exclude, None if name in ("CYP", "NUTR", "TF", "TF2") else area)
        self.bound[name] = ent
        return ent


def _capitalise(tok: str) -> str:
    return tok[0].upper() + tok[1:] if re.fullmatch(r"[a-z][a-z\-']*", tok) else tok


def _ner_split(rng: random.Random, world: _NerWorld, split: str, size: int, used: set) -> dict[str, list]:
    pools = _SplitPools(world, split, rng)
    tokens_out, tags_out = [], []
    # Cycle through templates in shuffled rounds so every template is used evenly in every split.
    order: list[int] = []
    while len(tokens_out) < size:
        if not order:
            order = list(range(len(world.templates)))
            rng.shuffle(order)
        nodes, table, areas, single_drug = world.templates[order.pop()]
        for _attempt in range(40):
            sent = _NerSentence(rng, pools)
            try:
                if table:
                    sent.choose_pair(table, areas, single_drug)
                else:
                    sent.area = rng.choice(areas or _AREAS)
                sent.render(nodes)
            except _Retry:
                continue
            toks = [t for t, _ in sent.out]
            if not 6 <= len(toks) <= 40:
                continue
            toks[0] = _capitalise(toks[0])
            key = " ".join(toks)
            if key in used:
                continue
            used.add(key)
            tokens_out.append(toks)
            tags_out.append([tag for _, tag in sent.out])
            break
    return {"tokens": tokens_out, "tags": tags_out}


def demo_ner(seed: int = 0) -> datasets.DatasetDict:
    """Generate the embedded biomedical NER demo corpus.

    Sentences are abstract-like biomedical prose, tokenised Penn/CoNLL style, tagged in IOB2 with the
    entity types ``Disease``, ``Chemical`` and ``Gene/Protein``. Entity types often depend on context
    (e.g. "insulin" administered vs. "insulin" gene expression; "ACE" vs. "ACE inhibitors"), part of each
    lexicon is held out of train, and validation/test also contain compositional names never seen in train.

    Args:
        seed: Seed for ``random.Random``; the same seed gives byte-identical output.

    Returns:
        A ``DatasetDict`` with splits ``train`` (2400), ``validation`` (300) and ``test`` (300), each with
        columns ``tokens`` (list of str) and ``tags`` (list of str).
    """
    rng = random.Random(seed)
    world = _NerWorld(rng)
    used: set[str] = set()
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "tags": datasets.Sequence(datasets.Value("string"))})
    return datasets.DatasetDict({
        split: datasets.Dataset.from_dict(_ner_split(rng, world, split, size, used), features=features)
        for split, size in _SPLITS
    })
# =====================================================================================
# NLI: clinical premises with facts; hypotheses are predicates evaluated against the facts
# =====================================================================================
# A hypothesis is a (text, value) pair: value True -> entailment, False -> contradiction, None -> neutral (not
# determined by the premise) and "?" -> ambiguous, never used. The same hypothesis wordings are produced for
# every premise whose facts bear on them, so one wording occurs under all three labels.
_ENTAIL, _CONTRA, _NEUTRAL = "entailment", "contradiction", "neutral"
_AMBIG = "?"
_LABELS = (_ENTAIL, _NEUTRAL, _CONTRA)

# Conditions: key -> (premise names, chronic/past?). Chronic ones belong to the past medical history.
_CONDS = {
    "htn": (["hypertension", "high blood pressure"], True),
    "t2dm": (["type 2 diabetes", "insulin-dependent type 2 diabetes"], True),
    "t1dm": (["type 1 diabetes"], True),
    "dm": (["diabetes"], True),
    "cad": (["coronary artery disease", "three-vessel coronary artery disease"], True),
    "chf": (["congestive heart failure", "heart failure with reduced ejection fraction"], True),
    "afib": (["atrial fibrillation", "paroxysmal atrial fibrillation"], True),
    "prior_mi": (["a prior myocardial infarction", "a myocardial infarction in 2016"], True),
    "copd": (["COPD", "chronic obstructive pulmonary disease"], True),
    "asthma": (["asthma", "moderate persistent asthma"], True),
    "ckd": (["chronic kidney disease", "stage 3 chronic kidney disease"], True),
    "esrd": (["end-stage renal disease"], True),
    "cirrhosis": (["alcoholic cirrhosis", "cirrhosis"], True),
    "hepc": (["hepatitis C"], True),
    "breast_ca": (["breast cancer"], True),
    "prostate_ca": (["prostate cancer"], True),
    "colon_ca": (["colon cancer"], True),
    "lung_ca": (["lung cancer", "non-small cell lung cancer"], True),
    "ra": (["rheumatoid arthritis"], True),
    "sle": (["systemic lupus erythematosus", "lupus"], True),
    "crohns": (["Crohn 's disease"], True),
    "mdd": (["major depressive disorder", "depression"], True),
    "schizo": (["schizophrenia"], True),
    "bipolar": (["bipolar disorder"], True),
    "epilepsy": (["epilepsy", "a seizure disorder"], True),
    "parkinsons": (["Parkinson 's disease"], True),
    "stroke_hx": (["a prior stroke", "a left middle cerebral artery stroke"], True),
    "dementia": (["dementia", "Alzheimer 's dementia"], True),
    "hypothyroid": (["hypothyroidism"], True),
    "dvt_hx": (["a prior deep vein thrombosis"], True),
    "gout": (["gout"], True),
    "oa": (["osteoarthritis"], True),
    "pe": (["a pulmonary embolism", "bilateral pulmonary emboli", "a saddle pulmonary embolus"], False),
    "dvt": (["a deep vein thrombosis", "a left femoral deep vein thrombosis"], False),
    "pneumonia": (["pneumonia", "community-acquired pneumonia", "a right lower lobe pneumonia"], False),
    "uti": (["a urinary tract infection"], False),
    "pyelo": (["pyelonephritis"], False),
    "cellulitis": (["cellulitis of the left leg", "lower extremity cellulitis"], False),
    "meningitis": (["bacterial meningitis"], False),
    "bacteraemia": (["bacteraemia"], False),
    "stemi": (["an anterior ST-elevation myocardial infarction", "an ST-elevation myocardial infarction"], False),
    "nstemi": (["a non-ST-elevation myocardial infarction"], False),
    "chf_exac": (["an exacerbation of heart failure", "acute decompensated heart failure"], False),
    "copd_exac": (["a COPD exacerbation"], False),
    "dka": (["diabetic ketoacidosis"], False),
    "aki": (["acute kidney injury"], False),
    "pancreatitis": (["acute pancreatitis"], False),
    "ugib": (["an upper gastrointestinal bleed", "a bleeding duodenal ulcer"], False),
    "stroke": (["an acute ischaemic stroke", "a right middle cerebral artery stroke"], False),
    "cholecystitis": (["acute cholecystitis"], False),
    "appendicitis": (["acute appendicitis"], False),
    "alc_withdrawal": (["alcohol withdrawal"], False),
}
# Implications: having the key condition means also having these.
_COND_IMPLIES = {"chf_exac": ("chf",), "copd_exac": ("copd",), "dka": ("dm",), "t2dm": ("dm",), "t1dm": ("dm",),
                 "esrd": ("ckd",), "pyelo": ("uti",)}
# Hypothesis phrases about conditions: (phrase, condition keys it describes, verb form). Forms: "has" (has /
# does not have), "had" (has had / has never had, for events), "hx" (also "has a history of"), "hxonly" (only
# "has a history of", for conditions that may be past).
_COND_PHRASES = [
    ("high blood pressure", ("htn",), "hx"), ("hypertension", ("htn",), "hx"),
    ("diabetes", ("t2dm", "t1dm", "dm", "dka"), "hx"), ("type 1 diabetes", ("t1dm",), "hx"),
    ("heart disease", ("cad", "chf", "prior_mi", "afib", "chf_exac", "stemi", "nstemi"), "hx"),
    ("heart failure", ("chf", "chf_exac"), "hx"), ("a weak heart", ("chf", "chf_exac"), "has"),
    ("an irregular heart rhythm", ("afib",), "has"), ("a heart attack", ("prior_mi", "stemi", "nstemi"), "had"),
    ("lung disease", ("copd", "asthma", "copd_exac"), "hx"), ("a chronic lung disease", ("copd", "asthma"), "has"),
    ("kidney disease", ("ckd", "esrd", "aki"), "hx"), ("chronic kidney disease", ("ckd", "esrd"), "hx"),
    ("kidney failure", ("esrd",), "has"), ("liver disease", ("cirrhosis", "hepc"), "hx"),
    ("scarring of the liver", ("cirrhosis",), "has"),
    ("cancer", ("breast_ca", "prostate_ca", "colon_ca", "lung_ca"), "hxonly"),
    ("a malignancy", ("breast_ca", "prostate_ca", "colon_ca", "lung_ca"), "hxonly"),
    ("an autoimmune disease", ("ra", "sle"), "hx"), ("inflammatory bowel disease", ("crohns",), "hx"),
    ("a psychiatric illness", ("mdd", "schizo", "bipolar"), "hx"), ("a mood disorder", ("mdd", "bipolar"), "hx"),
    ("a seizure disorder", ("epilepsy",), "hx"),
    ("a neurological disorder", ("epilepsy", "parkinsons", "stroke_hx", "dementia", "stroke"), "hx"),
    ("a stroke", ("stroke_hx", "stroke"), "had"), ("memory problems", ("dementia",), "has"),
    ("an underactive thyroid", ("hypothyroid",), "has"), ("a thyroid disorder", ("hypothyroid",), "hx"),
    ("a blood clot", ("pe", "dvt", "dvt_hx"), "had"), ("a clot in the lungs", ("pe",), "has"),
    ("a clot in the leg", ("dvt",), "has"), ("venous thromboembolism", ("pe", "dvt", "dvt_hx"), "hx"),
    ("an infection", ("pneumonia", "uti", "pyelo", "cellulitis", "meningitis", "bacteraemia"), "has"),
    ("a lung infection", ("pneumonia",), "has"), ("a urinary tract infection", ("uti", "pyelo"), "has"),
    ("a kidney infection", ("pyelo",), "has"), ("a skin infection", ("cellulitis",), "has"),
    ("an infection of the lining of the brain", ("meningitis",), "has"),
    ("a bloodstream infection", ("bacteraemia",), "has"), ("inflammation of the pancreas", ("pancreatitis",), "has"),
    ("bleeding in the gastrointestinal tract", ("ugib",), "has"), ("a kidney injury", ("aki",), "has"),
    ("inflammation of the gallbladder", ("cholecystitis",), "has"), ("appendicitis", ("appendicitis",), "has"),
    ("alcohol withdrawal", ("alc_withdrawal",), "has"), ("ketoacidosis", ("dka",), "has"),
    ("arthritis", ("ra", "oa", "gout"), "hx"), ("gout", ("gout",), "hx"),
]

_CHRONIC = {key: chronic for key, (_names, chronic) in _CONDS.items()}
_PHRASES_BY_COND: dict[str, list[int]] = {}
for _i, _phrase in enumerate(_COND_PHRASES):
    for _key in _phrase[1]:
        _PHRASES_BY_COND.setdefault(_key, []).append(_i)

# Drugs: key -> classes. Names are the keys with "_" read as a space.
_NLI_DRUGS = {
    "heparin": ("anticoag",), "enoxaparin": ("anticoag",), "warfarin": ("anticoag",), "apixaban": ("anticoag",),
    "rivaroxaban": ("anticoag",), "aspirin": ("antiplatelet",), "clopidogrel": ("antiplatelet",),
    "metoprolol": ("bb", "antihtn"), "carvedilol": ("bb", "antihtn"), "atenolol": ("bb", "antihtn"),
    "lisinopril": ("acei", "antihtn"), "enalapril": ("acei", "antihtn"), "losartan": ("arb", "antihtn"),
    "amlodipine": ("ccb", "antihtn"), "diltiazem": ("ccb",), "furosemide": ("diuretic",),
    "hydrochlorothiazide": ("diuretic", "antihtn"), "spironolactone": ("diuretic",), "atorvastatin": ("statin",),
    "simvastatin": ("statin",), "metformin": ("dm_med",), "glipizide": ("dm_med",),
    "insulin_glargine": ("dm_med", "insulin"), "levothyroxine": ("thyroid",), "omeprazole": ("ppi",),
    "pantoprazole": ("ppi",), "ceftriaxone": ("abx",), "vancomycin": ("abx",), "piperacillin-tazobactam": ("abx",),
    "azithromycin": ("abx",), "ciprofloxacin": ("abx",), "nitrofurantoin": ("abx",), "amoxicillin": ("abx",),
    "cefazolin": ("abx",), "prednisone": ("steroid",), "methotrexate": ("immunosupp",),
    "tacrolimus": ("immunosupp",), "sertraline": ("antidep",), "fluoxetine": ("antidep",),
    "citalopram": ("antidep",), "haloperidol": ("antipsych",), "quetiapine": ("antipsych",),
    "levetiracetam": ("aed",), "phenytoin": ("aed",), "lamotrigine": ("aed",), "morphine": ("opioid", "analgesic"),
    "oxycodone": ("opioid", "analgesic"), "paracetamol": ("analgesic",), "albuterol": ("bronchodilator",),
    "tiotropium": ("bronchodilator",), "lorazepam": ("benzo",), "diazepam": ("benzo",),
    "amiodarone": ("antiarrhythmic",), "lithium": ("mood_stabiliser",), "allopurinol": (),
    "tamsulosin": (), "donepezil": (), "carbidopa-levodopa": (), "insulin": ("dm_med", "insulin"),
    "nitroglycerin": ("nitrate",),
}
# Drugs that strongly suggest a condition: hypotheses about those conditions are then ambiguous, never used.
_DRUG_SUGGESTS = {"metformin": ("t2dm", "dm"), "glipizide": ("t2dm", "dm"), "insulin_glargine": ("t2dm", "t1dm", "dm"),
                  "levothyroxine": ("hypothyroid",), "levetiracetam": ("epilepsy",), "phenytoin": ("epilepsy",),
                  "lamotrigine": ("epilepsy", "bipolar"), "donepezil": ("dementia",),
                  "carbidopa-levodopa": ("parkinsons",), "albuterol": ("copd", "asthma"),
                  "tiotropium": ("copd", "asthma"), "lithium": ("bipolar",), "haloperidol": ("schizo",),
                  "quetiapine": ("schizo", "bipolar"), "sertraline": ("mdd",), "fluoxetine": ("mdd",),
                  "citalopram": ("mdd",), "allopurinol": ("gout",), "warfarin": ("afib", "dvt_hx"),
                  "apixaban": ("afib", "dvt_hx"), "rivaroxaban": ("afib", "dvt_hx"), "amiodarone": ("afib",),
                  "lisinopril": ("htn", "chf"), "losartan": ("htn",), "amlodipine": ("htn",),
                  "metoprolol": ("htn", "cad", "afib", "chf"), "furosemide": ("chf",), "methotrexate": ("ra",),
                  "atorvastatin": ("cad",), "clopidogrel": ("cad", "stroke_hx"), "insulin": ("t2dm", "t1dm", "dm")}
# Medication hypothesis phrases: (positive phrase, negated phrase, classes).
_MED_PHRASES = [
    ("an anticoagulant", "any anticoagulant", ("anticoag",)),
    ("a blood thinner", "any blood thinner", ("anticoag", "antiplatelet")),
    ("an antiplatelet agent", "any antiplatelet agent", ("antiplatelet",)),
    ("a beta-blocker", "a beta-blocker", ("bb",)), ("an ACE inhibitor", "an ACE inhibitor", ("acei",)),
    ("blood pressure medication", "any blood pressure medication", ("antihtn",)),
    ("a diuretic", "a diuretic", ("diuretic",)), ("a statin", "a statin", ("statin",)),
    ("cholesterol-lowering medication", "any cholesterol-lowering medication", ("statin",)),
    ("diabetes medication", "any diabetes medication", ("dm_med",)), ("insulin", "insulin", ("insulin",)),
    ("an antibiotic", "any antibiotics", ("abx",)), ("a steroid", "steroids", ("steroid",)),
    ("an immunosuppressant", "any immunosuppressants", ("immunosupp", "steroid")),
    ("an antidepressant", "an antidepressant", ("antidep",)), ("an antipsychotic", "an antipsychotic", ("antipsych",)),
    ("an antiepileptic drug", "any antiepileptic drugs", ("aed",)), ("an opioid", "any opioids", ("opioid",)),
    ("pain medication", "any pain medication", ("analgesic",)),
    ("a bronchodilator", "a bronchodilator", ("bronchodilator",)),
    ("thyroid hormone replacement", "thyroid hormone replacement", ("thyroid",)),
    ("acid-suppressing medication", "acid-suppressing medication", ("ppi",)),
    ("a benzodiazepine", "a benzodiazepine", ("benzo",)),
    ("an antiarrhythmic", "an antiarrhythmic", ("antiarrhythmic",)),
    ("a mood stabiliser", "a mood stabiliser", ("mood_stabiliser",)),
]
# Diagnosis -> treatments "drug [and drug]" (an "intravenous " prefix is allowed).
_DX_TREATMENT = {
    "pe": ["intravenous heparin", "enoxaparin", "apixaban"], "dvt": ["enoxaparin", "apixaban", "rivaroxaban"],
    "pneumonia": ["ceftriaxone and azithromycin", "intravenous ceftriaxone", "piperacillin-tazobactam"],
    "uti": ["nitrofurantoin", "ciprofloxacin"], "pyelo": ["intravenous ceftriaxone", "ciprofloxacin"],
    "cellulitis": ["cefazolin", "intravenous vancomycin"], "meningitis": ["vancomycin and ceftriaxone"],
    "dka": ["intravenous insulin"], "chf_exac": ["intravenous furosemide"], "copd_exac": ["prednisone and albuterol"],
    "stemi": ["heparin and aspirin", "aspirin and clopidogrel"], "nstemi": ["heparin and aspirin"],
    "ugib": ["intravenous pantoprazole"], "alc_withdrawal": ["lorazepam", "diazepam"], "stroke": ["aspirin"],
    "afib": ["diltiazem", "metoprolol"],
}
# Labs: key -> (premise names, hypothesis name, unit, low, high, {range name: (lo, hi)}, decimals).
_LABS = {
    "creatinine": (["creatinine", "serum creatinine"], "creatinine", "mg/dL", 0.6, 1.2,
                   {"high": (1.8, 6.5), "normal": (0.7, 1.1)}, 1),
    "potassium": (["potassium", "serum potassium"], "potassium", "mmol/L", 3.5, 5.0,
                  {"high": (5.7, 7.2), "low": (2.4, 3.1), "normal": (3.7, 4.8)}, 1),
    "sodium": (["sodium", "serum sodium"], "sodium", "mmol/L", 135, 145,
               {"low": (116, 129), "high": (151, 159), "normal": (136, 144)}, 0),
    "haemoglobin": (["haemoglobin"], "haemoglobin", "g/dL", 12.0, 17.0, {"low": (5.8, 9.4), "normal": (12.8, 15.6)}, 1),
    "wbc": (["white blood cell count", "white count"], "white blood cell count", "x10^9/L", 4.0, 11.0,
            {"high": (14.0, 28.0), "low": (1.1, 2.9), "normal": (5.0, 9.5)}, 1),
    "platelets": (["platelet count"], "platelet count", "x10^9/L", 150, 400,
                  {"low": (18, 90), "normal": (180, 350)}, 0),
    "troponin": (["troponin I", "troponin"], "troponin", "ng/mL", 0.0, 0.04,
                 {"high": (0.6, 12.0), "normal": (0.01, 0.03)}, 2),
    "glucose": (["blood glucose", "serum glucose"], "blood glucose", "mg/dL", 70, 140,
                {"high": (320, 780), "low": (28, 54), "normal": (82, 125)}, 0),
    "inr": (["INR"], "INR", "", 0.9, 1.2, {"high": (3.6, 8.5), "normal": (0.9, 1.1)}, 1),
    "lactate": (["lactate"], "lactate", "mmol/L", 0.5, 2.0, {"high": (4.2, 9.6), "normal": (0.8, 1.6)}, 1),
    "alt": (["ALT", "alanine aminotransferase"], "ALT", "U/L", 7, 40, {"high": (240, 2400), "normal": (14, 35)}, 0),
    "bilirubin": (["total bilirubin"], "bilirubin", "mg/dL", 0.2, 1.2, {"high": (3.5, 14.0), "normal": (0.4, 1.0)}, 1),
    "lipase": (["lipase"], "lipase", "U/L", 10, 60, {"high": (850, 4200), "normal": (18, 50)}, 0),
    "tsh": (["TSH"], "TSH", "mIU/L", 0.4, 4.0, {"high": (14.0, 65.0), "normal": (0.8, 3.2)}, 1),
    "bnp": (["BNP"], "BNP", "pg/mL", 0, 100, {"high": (900, 3400), "normal": (20, 80)}, 0),
    "calcium": (["calcium", "serum calcium"], "calcium", "mg/dL", 8.5, 10.5,
                {"high": (11.8, 14.4), "low": (6.4, 7.6), "normal": (8.8, 10.1)}, 1),
}
# Lab interpretations: lab -> [(hypothesis, true-if, false-if)] over the value; neither -> ambiguous.
_LAB_MEANING = {
    "creatinine": [("The patient has impaired kidney function .", lambda v: v > 1.5, lambda v: v <= 1.2),
                   ("The patient does not have normal kidney function .", lambda v: v > 1.5, lambda v: v <= 1.2),
                   ("The patient has normal kidney function .", lambda v: v <= 1.2, lambda v: v > 1.5)],
    "potassium": [("The patient is hyperkalaemic .", lambda v: v > 5.0, lambda v: v <= 5.0),
                  ("The patient has a high potassium level .", lambda v: v > 5.0, lambda v: v <= 5.0),
                  ("The patient is hypokalaemic .", lambda v: v < 3.5, lambda v: v >= 3.5),
                  ("The patient's potassium level is normal .", lambda v: 3.5 <= v <= 5.0,
                   lambda v: v < 3.5 or v > 5.0)],
    "sodium": [("The patient is hyponatraemic .", lambda v: v < 135, lambda v: v >= 135),
               ("The patient has a low sodium level .", lambda v: v < 135, lambda v: v >= 135),
               ("The patient's sodium level is normal .", lambda v: 135 <= v <= 145, lambda v: v < 135 or v > 145)],
    "haemoglobin": [("The patient is anaemic .", lambda v: v < 10, lambda v: v >= 12.8),
                    ("The patient has a low blood count .", lambda v: v < 10, lambda v: v >= 12.8),
                    ("The patient does not have anaemia .", lambda v: v >= 12.8, lambda v: v < 10)],
    "wbc": [("The patient has leukocytosis .", lambda v: v > 11, lambda v: v <= 11),
            ("The patient has an elevated white count .", lambda v: v > 11, lambda v: v <= 11),
            ("The patient's white blood cell count is normal .", lambda v: 4 <= v <= 11, lambda v: v < 4 or v > 11)],
    "platelets": [("The patient is thrombocytopenic .", lambda v: v < 150, lambda v: v >= 150),
                  ("The patient has a low platelet count .", lambda v: v < 150, lambda v: v >= 150),
                  ("The patient's platelet count is normal .", lambda v: v >= 150, lambda v: v < 150)],
    "troponin": [("There is evidence of injury to the heart muscle .", lambda v: v > 0.04, lambda v: v <= 0.04),
                 ("The cardiac enzymes are normal .", lambda v: v <= 0.04, lambda v: v > 0.04),
                 ("The troponin is negative .", lambda v: v <= 0.04, lambda v: v > 0.04)],
    "glucose": [("The patient is hyperglycaemic .", lambda v: v > 180, lambda v: v <= 140),
                ("The patient has high blood sugar .", lambda v: v > 180, lambda v: v <= 140),
                ("The patient is hypoglycaemic .", lambda v: v < 70, lambda v: v >= 80),
                ("The patient's blood sugar is low .", lambda v: v < 70, lambda v: v >= 80),
                ("The patient's blood sugar is normal .", lambda v: 70 <= v <= 140, lambda v: v < 60 or v > 180)],
    "inr": [("The patient's blood is clotting more slowly than normal .", lambda v: v > 1.5, lambda v: v <= 1.2),
            ("The patient's INR is in the normal range .", lambda v: v <= 1.2, lambda v: v > 1.5),
            ("The INR is above the usual therapeutic range .", lambda v: v > 3.2, lambda v: v <= 3.0)],
    "lactate": [("The patient has a normal lactate .", lambda v: v <= 2.0, lambda v: v > 2.0)],
    "alt": [("The patient's liver enzymes are elevated .", lambda v: v > 40, lambda v: v <= 40),
            ("The liver function tests are normal .", lambda v: v <= 40, lambda v: v > 40),
            ("There is evidence of liver injury .", lambda v: v > 120, lambda v: v <= 40)],
    "bilirubin": [("The patient has hyperbilirubinaemia .", lambda v: v > 1.2, lambda v: v <= 1.2)],
    "lipase": [("The lipase is more than three times the upper limit of normal .", lambda v: v > 180,
                lambda v: v <= 180)],
    "tsh": [("The thyroid function tests are abnormal .", lambda v: v > 4.0 or v < 0.4, lambda v: 0.4 <= v <= 4.0)],
    "bnp": [("The natriuretic peptide level is normal .", lambda v: v <= 100, lambda v: v > 100)],
    "calcium": [("The patient is hypercalcaemic .", lambda v: v > 10.5, lambda v: v <= 10.5),
                ("The patient is hypocalcaemic .", lambda v: v < 8.5, lambda v: v >= 8.5)],
}
# Labs that belong together (neutral hypotheses about an unmeasured related lab).
_LAB_RELATED = {"creatinine": ["potassium", "sodium"], "potassium": ["creatinine", "calcium"],
                "sodium": ["potassium", "glucose"], "haemoglobin": ["platelets", "wbc"],
                "wbc": ["lactate", "haemoglobin"], "platelets": ["haemoglobin", "inr"],
                "troponin": ["bnp", "potassium"], "glucose": ["potassium", "sodium"],
                "inr": ["haemoglobin", "platelets"], "lactate": ["wbc", "creatinine"],
                "alt": ["bilirubin", "inr"], "bilirubin": ["alt", "lipase"], "lipase": ["alt", "bilirubin"],
                "tsh": ["sodium", "calcium"], "bnp": ["troponin", "creatinine"], "calcium": ["creatinine", "potassium"]}
_DX_PLAN_PREMISES = [("pe", "anticoag"), ("dvt", "anticoag"), ("afib", "anticoag"), ("pneumonia", "antibiotics"),
                     ("uti", "antibiotics"), ("cellulitis", "antibiotics"), ("meningitis", "antibiotics"),
                     ("stemi", "cath"), ("nstemi", "cath"), ("ugib", "endoscopy"), ("ugib", "transfusion"),
                     ("stroke", "physio"), ("dka", "insulin_drip"), ("cholecystitis", "surgery"),
                     ("appendicitis", "surgery"), ("aki", "dialysis")]
_LAB_PLAN_PREMISES = [("creatinine", "dialysis"), ("potassium", "dialysis"), ("haemoglobin", "transfusion"),
                      ("haemoglobin", "endoscopy"), ("troponin", "cath"), ("glucose", "insulin_drip")]
_LAB_CONDS = {"creatinine": ["ckd", "aki", "esrd"], "potassium": ["ckd", "esrd"], "sodium": ["chf", "cirrhosis"],
              "haemoglobin": ["ckd", "ugib"], "wbc": ["pneumonia", "uti"], "platelets": ["cirrhosis"],
              "troponin": ["cad", "prior_mi"], "glucose": ["dm", "t2dm"], "inr": ["cirrhosis", "afib"],
              "lactate": ["pneumonia"], "alt": ["cirrhosis", "hepc"], "bilirubin": ["cirrhosis", "hepc"],
              "lipase": ["pancreatitis"], "tsh": ["hypothyroid"], "bnp": ["chf"], "calcium": ["ckd", "breast_ca"]}

# Causes: target -> (subject noun phrases, [(cause key, premise phrase or None, hypothesis phrase, implied cond)]).
_CAUSES = {
    "pe": (["The pulmonary embolism", "The clot in the lungs"],
           [("surgery", "a recent hip replacement", "recent surgery", None),
            ("cancer", "an underlying malignancy", "an underlying cancer", None),
            ("flight", "a long-haul flight", "a long flight", None),
            ("ocp", None, "oral contraceptives", None)]),
    "pneumonia": (["The pneumonia", "The lung infection"],
                  [("aspiration", "aspiration", "aspiration", None),
                   ("influenza", "a preceding influenza infection", "influenza", None),
                   ("pneumococcus", None, "pneumococcus", None)]),
    "pancreatitis": (["The pancreatitis", "The inflammation of the pancreas"],
                     [("gallstones", "gallstones", "gallstones", None),
                      ("alcohol", "heavy alcohol use", "alcohol", None),
                      ("triglycerides", "severe hypertriglyceridaemia", "high triglycerides", None)]),
    "ugib": (["The bleeding", "The gastrointestinal bleed"],
             [("nsaid", "a gastric ulcer from daily ibuprofen use", "an ulcer caused by NSAIDs", None),
              ("varices", "oesophageal varices", "varices", "cirrhosis"),
              ("hpylori", None, "Helicobacter pylori infection", None)]),
    "dka": (["The ketoacidosis"],
            [("missed", "missed insulin doses", "missed insulin doses", None),
             ("infection", "a urinary tract infection", "an infection", "uti")]),
    "chf_exac": (["The heart failure exacerbation"],
                 [("salt", "dietary indiscretion", "a high-salt diet", None),
                  ("nonadherence", "missed doses of furosemide", "medication non-adherence", None),
                  ("afib", "new atrial fibrillation", "atrial fibrillation", "afib")]),
    "stroke": (["The stroke"],
               [("afib", "atrial fibrillation", "atrial fibrillation", "afib"),
                ("carotid", "severe carotid stenosis", "carotid artery disease", None)]),
    "creatinine+": (["The rise in creatinine", "The kidney injury"],
                    [("contrast", "contrast administration", "contrast dye", None),
                     ("dehydration", "several days of vomiting and poor oral intake", "dehydration", None),
                     ("nsaid", "daily ibuprofen use", "NSAID use", None),
                     ("obstruction", None, "urinary obstruction", None)]),
    "potassium+": (["The high potassium", "The hyperkalaemia"],
                   [("acei", "starting lisinopril", "an ACE inhibitor", None),
                    ("kidney", None, "kidney failure", None), ("haemolysis", None, "a haemolysed sample", None)]),
    "sodium-": (["The low sodium", "The hyponatraemia"],
                [("diuretic", "hydrochlorothiazide use", "a thiazide diuretic", None),
                 ("siadh", None, "inappropriate antidiuretic hormone secretion", None),
                 ("water", "excessive water intake", "drinking too much water", None)]),
    "haemoglobin-": (["The anaemia", "The low haemoglobin"],
                     [("gi", "a slow gastrointestinal bleed", "gastrointestinal blood loss", None),
                      ("iron", "iron deficiency", "iron deficiency", None),
                      ("ckd", None, "chronic kidney disease", None)]),
    "platelets-": (["The low platelet count", "The thrombocytopenia"],
                   [("heparin", "heparin exposure", "heparin", None), ("sepsis", None, "sepsis", None),
                    ("liver", None, "liver disease", None)]),
    "alt+": (["The liver injury", "The rise in liver enzymes"],
             [("paracetamol", "a paracetamol overdose", "a paracetamol overdose", None),
              ("hepatitis", "acute hepatitis A", "viral hepatitis", None), ("alcohol", None, "alcohol", None)]),
    "glucose+": (["The high blood sugar", "The hyperglycaemia"],
                 [("missed", "missed insulin doses", "missed insulin doses", None),
                  ("steroids", "a recent course of prednisone", "steroid use", None),
                  ("infection", None, "an infection", None)]),
    "glucose-": (["The low blood sugar", "The hypoglycaemia"],
                 [("meal", "a missed meal", "a missed meal", None),
                  ("insulin", "an insulin dosing error", "too much insulin", None)]),
}
_LAB_CAUSE_TARGET = {("creatinine", "high"): "creatinine+", ("potassium", "high"): "potassium+",
                     ("sodium", "low"): "sodium-", ("haemoglobin", "low"): "haemoglobin-",
                     ("platelets", "low"): "platelets-", ("alt", "high"): "alt+", ("glucose", "high"): "glucose+",
                     ("glucose", "low"): "glucose-"}
# Plans: key -> (premise phrase, noun for "declined", positive hypotheses, negated hypotheses).
_PLANS = {
    "dialysis": ("start haemodialysis", "dialysis", ["The patient will undergo dialysis .",
                 "The patient will be started on dialysis ."], ["The patient will not receive dialysis ."]),
    "transfusion": ("transfuse two units of packed red blood cells", "a blood transfusion",
                    ["The patient will receive a blood transfusion ."], ["The patient will not be transfused ."]),
    "cath": ("proceed with cardiac catheterisation", "cardiac catheterisation",
             ["The patient will undergo coronary angiography .", "The patient will have a cardiac catheterisation ."],
             ["The patient will not undergo an invasive cardiac procedure ."]),
    "surgery": ("proceed with surgery", "surgery",
                ["The patient will undergo surgery .", "The patient will have an operation ."],
                ["The patient will be managed without surgery ."]),
    "endoscopy": ("perform an upper endoscopy", "an endoscopy", ["The patient will undergo an endoscopy ."],
                  ["No endoscopy is planned ."]),
    "biopsy": ("obtain a CT-guided biopsy of the mass", "a biopsy", ["The patient will undergo a biopsy ."],
               ["No biopsy will be performed ."]),
    "colonoscopy": ("arrange an outpatient colonoscopy", "a colonoscopy", ["The patient will undergo a colonoscopy ."],
                    ["The patient will not have a colonoscopy ."]),
    "anticoag": ("continue anticoagulation for six months", None, ["The patient will remain on anticoagulation ."],
                 ["Anticoagulation will be stopped ."]),
    "antibiotics": ("complete a seven-day course of antibiotics", None,
                    ["The patient will continue to receive antibiotics ."], ["Antibiotics will be discontinued ."]),
    "physio": ("start physical therapy", "physical therapy", ["The patient will receive physical therapy ."],
               ["The patient will not receive physical therapy ."]),
    "insulin_drip": ("start an insulin infusion", "an insulin infusion",
                     ["The patient will receive an insulin infusion ."], ["The patient will not receive insulin ."]),
}
_DX_PLANS = {"pe": ["anticoag"], "dvt": ["anticoag"], "pneumonia": ["antibiotics"], "uti": ["antibiotics"],
             "pyelo": ["antibiotics"], "cellulitis": ["antibiotics"], "meningitis": ["antibiotics"],
             "stemi": ["cath"], "nstemi": ["cath"], "ugib": ["endoscopy", "transfusion"], "stroke": ["physio"],
             "dka": ["insulin_drip"], "cholecystitis": ["surgery"], "appendicitis": ["surgery"],
             "aki": ["dialysis"], "chf_exac": ["cath"], "pancreatitis": ["surgery"], "afib": ["anticoag"],
             "copd_exac": ["antibiotics"], "alc_withdrawal": ["physio"]}
_LAB_PLANS = {"creatinine": ["dialysis"], "potassium": ["dialysis"], "haemoglobin": ["transfusion", "endoscopy"],
              "troponin": ["cath"], "glucose": ["insulin_drip"], "platelets": ["transfusion"],
              "inr": ["transfusion"], "lipase": ["surgery"], "alt": ["biopsy"], "bilirubin": ["endoscopy"],
              "wbc": ["antibiotics"], "lactate": ["antibiotics"], "sodium": ["dialysis"], "tsh": ["biopsy"],
              "bnp": ["cath"], "calcium": ["biopsy"]}

# Symptoms: key -> (premise phrases, positive hypotheses, negated hypotheses, is pain).
_SYMPTOMS = {
    "chest_pain": (["chest pain", "substernal chest pressure", "crushing chest pain"],
                   ["The patient has chest pain .", "The patient complains of chest discomfort ."],
                   ["The patient denies chest pain .", "The patient does not have chest pain ."], True),
    "dyspnoea": (["shortness of breath", "worsening dyspnoea", "dyspnoea on exertion"],
                 ["The patient is short of breath .", "The patient has difficulty breathing ."],
                 ["The patient is not short of breath .", "The patient denies difficulty breathing ."], False),
    "cough": (["a productive cough", "a dry cough"], ["The patient has a cough ."],
              ["The patient does not have a cough ."], False),
    "abd_pain": (["abdominal pain", "epigastric pain", "right upper quadrant pain"],
                 ["The patient has abdominal pain .", "The patient complains of belly pain ."],
                 ["The patient denies abdominal pain ."], True),
    "nausea": (["nausea"], ["The patient feels nauseous ."], ["The patient denies nausea ."], False),
    "vomiting": (["vomiting", "persistent vomiting"], ["The patient has been vomiting ."],
                 ["The patient has not vomited ."], False),
    "headache": (["a severe headache", "headache"], ["The patient has a headache ."],
                 ["The patient does not have a headache ."], True),
    "dizziness": (["dizziness", "lightheadedness"], ["The patient feels dizzy ."], ["The patient denies dizziness ."],
                  False),
    "palpitations": (["palpitations"], ["The patient feels their heart racing ."],
                     ["The patient denies palpitations ."], False),
    "leg_swelling": (["bilateral leg swelling", "swelling of the left calf"],
                     ["The patient has swelling in the legs .", "The patient has leg swelling ."],
                     ["The patient has no leg swelling ."], False),
    "confusion": (["confusion", "acute confusion"], ["The patient is confused ."], ["The patient is not confused ."],
                  False),
    "back_pain": (["low back pain"], ["The patient has back pain ."], ["The patient denies back pain ."], True),
    "dysuria": (["dysuria", "burning on urination"], ["The patient has pain on urination ."],
                ["The patient denies pain on urination ."], True),
    "haemoptysis": (["haemoptysis"], ["The patient is coughing up blood ."], ["The patient is not coughing up blood ."],
                    False),
    "melena": (["black , tarry stools", "melena"], ["The patient has black stools ."],
               ["The patient denies black stools ."], False),
    "weight_loss": (["unintentional weight loss"], ["The patient has lost weight ."],
                    ["The patient 's weight has been stable ."], False),
    "fatigue": (["fatigue", "generalised weakness"], ["The patient feels tired ."], ["The patient denies fatigue ."],
                False),
    "chills": (["fevers and chills", "rigors"], ["The patient reports chills ."], ["The patient denies chills ."],
               False),
    "syncope": (["syncope", "recurrent syncope"], ["The patient lost consciousness ."],
                ["The patient did not lose consciousness ."], False),
    "haematemesis": (["haematemesis", "vomiting blood"], ["The patient has been vomiting blood ."],
                     ["The patient has not vomited blood ."], False),
    "joint_pain": (["joint pain", "right knee pain and swelling"], ["The patient has joint pain ."],
                   ["The patient denies joint pain ."],
                   True),
    "jaundice": (["jaundice", "yellowing of the skin"], ["The patient 's skin is yellow ."],
                 ["The patient is not jaundiced ."], False),
}
_SYMPTOM_RELATED = {"chest_pain": ["dyspnoea", "palpitations", "nausea"],
                    "dyspnoea": ["cough", "chest_pain", "leg_swelling"],
                    "cough": ["dyspnoea", "haemoptysis", "chills"], "abd_pain": ["vomiting", "nausea", "jaundice"],
                    "nausea": ["vomiting", "abd_pain"], "vomiting": ["abd_pain", "haematemesis"],
                    "headache": ["confusion", "dizziness"], "dizziness": ["syncope", "palpitations"],
                    "palpitations": ["chest_pain", "dizziness"], "leg_swelling": ["dyspnoea", "chest_pain"],
                    "confusion": ["headache", "chills"], "back_pain": ["dysuria", "abd_pain"],
                    "dysuria": ["chills", "back_pain"], "haemoptysis": ["cough", "weight_loss"],
                    "melena": ["dizziness", "haematemesis"], "weight_loss": ["fatigue", "cough"],
                    "fatigue": ["weight_loss", "dyspnoea"], "chills": ["cough", "dysuria"],
                    "syncope": ["palpitations", "chest_pain"], "haematemesis": ["melena", "dizziness"],
                    "joint_pain": ["chills", "back_pain"], "jaundice": ["abd_pain", "weight_loss"]}
_SYMPTOM_CONDS = {"chest_pain": ["cad", "prior_mi"], "dyspnoea": ["copd", "chf"], "cough": ["copd", "asthma"],
                  "abd_pain": ["crohns", "cirrhosis"], "headache": ["htn"], "palpitations": ["afib"],
                  "leg_swelling": ["chf", "dvt_hx"], "confusion": ["dementia"], "haemoptysis": ["lung_ca"],
                  "melena": ["cirrhosis"], "weight_loss": ["colon_ca", "lung_ca"], "joint_pain": ["gout", "ra"],
                  "jaundice": ["cirrhosis", "hepc"], "dysuria": ["uti"], "syncope": ["afib"]}

# Family history: condition key -> premise phrase; hypothesis categories (phrase, "had" phrase, condition keys).
_FAMILY_CONDS = {"prior_mi": "a myocardial infarction", "breast_ca": "breast cancer", "colon_ca": "colon cancer",
                 "prostate_ca": "prostate cancer", "t2dm": "type 2 diabetes", "stroke_hx": "a stroke",
                 "dementia": "Alzheimer 's dementia", "lung_ca": "lung cancer"}
_FAMILY_CATS = [("heart disease", "heart disease", ("prior_mi", "cad")),
                ("cancer", "cancer", ("breast_ca", "colon_ca", "prostate_ca", "lung_ca")),
                ("breast cancer", "breast cancer", ("breast_ca",)), ("colon cancer", "colon cancer", ("colon_ca",)),
                ("diabetes", "diabetes", ("t2dm",)), ("stroke", "a stroke", ("stroke_hx",)),
                ("dementia", "dementia", ("dementia",))]
_RELATIVES = ["mother", "father", "sister", "brother"]

_ALLERGENS = {"penicillin": (["penicillin"], ["penicillin", "a penicillin antibiotic"]),
              "sulfa": (["sulfa drugs", "sulfamethoxazole"], ["sulfa drugs"]),
              "codeine": (["codeine"], ["codeine"]), "contrast": (["iodinated contrast"], ["contrast dye"]),
              "aspirin": (["aspirin"], ["aspirin"])}
_REACTIONS = ["hives", "a rash", "anaphylaxis", "angioedema"]
_CXR = {"consolidation": "a {side} lower lobe consolidation", "effusion": "a large {side} pleural effusion",
        "pneumothorax": "a small {side} apical pneumothorax", "oedema": "bilateral pulmonary oedema",
        "mass": "a 3 cm spiculated mass in the {side} upper lobe", "clear": "no acute cardiopulmonary process"}
_CTHEAD = {"ich": "a large {side} parietal intracranial haemorrhage",
           "infarct": "an acute infarct in the {side} middle cerebral artery territory",
           "normal": "no acute intracranial abnormality"}
_ECG = {"nsr": "normal sinus rhythm", "afib": "atrial fibrillation with a rapid ventricular response",
        "stemi": "ST elevations in leads V1 through V4", "lbbb": "a new left bundle branch block",
        "stach": "sinus tachycardia at 124 beats per minute", "longqt": "a prolonged QTc interval of 540 ms",
        "twi": "diffuse T-wave inversions"}
_PROCS = {"cabg": ("coronary artery bypass grafting", "cad", True),
          "pci": ("percutaneous coronary intervention with stent placement", "cad", False),
          "mastectomy": ("a left mastectomy", "breast_ca", True),
          "colectomy": ("a right hemicolectomy", "colon_ca", True),
          "kidney_tx": ("a kidney transplant", "esrd", True), "tkr": ("a total knee replacement", "oa", True),
          "chole": ("a cholecystectomy", None, True), "appendectomy": ("an appendectomy", None, True)}
_ORGANISMS = [("methicillin-resistant Staphylococcus aureus", "positive"), ("Escherichia coli", "negative"),
              ("Streptococcus pneumoniae", "positive"), ("Klebsiella pneumoniae", "negative"),
              ("Enterococcus faecalis", "positive"), ("Pseudomonas aeruginosa", "negative")]
_JOBS = {"teacher": "works as a teacher", "nurse": "works as a nurse", "construction": "works in construction",
         "retired": "is retired", "unemployed": "is currently unemployed"}
_LIVING = {"alone": "lives alone", "spouse": "lives with {poss_l} {spouse}", "nursing": "lives in a nursing home"}
_SURNAMES_NLI = ["Smith", "Jones", "Garcia", "Nguyen", "Patel", "Kim", "Brown", "Lopez", "Cohen", "Rossi", "Novak",
                 "Murphy", "Singh", "Tanaka", "Okafor", "Muller"]


class _Facts:
    """What a premise establishes about the patient (None: not stated)."""

    def __init__(self):
        self.sex: str | None = None
        self.age: int | None = None
        self.smoking: tuple | None = None  # possible values among current/former/never
        self.alcohol: tuple | None = None  # possible values among heavy/moderate/none
        self.conds: dict[str, bool] = {}
        self.suggested: list[str] = []  # conditions suggested (not stated) by the premise
        self.cond_complete = False  # "no past medical history": every chronic condition is absent
        self.dx: str | None = None  # the acute problem the premise is about
        self.dx_reason = False  # the premise says it is the reason for admission
        self.meds: list[str] = []  # active medications
        self.home: list[str] = []  # regular home medications
        self.home_complete = False
        self.stopped: list[str] = []
        self.allergies: list[str] = []
        self.nkda = False
        self.reaction: str | None = None
        self.labs: dict[str, float] = {}
        self.trend: dict[str, str] = {}
        self.vitals: dict[str, float] = {}
        self.symptoms: dict[str, bool] = {}
        self.asymptomatic = False
        self.sym_days: int | None = None
        self.family: list[tuple[str, str]] = []
        self.family_neg: list[str] = []
        self.deceased: dict[str, bool] = {}
        self.cxr: tuple | None = None
        self.cthead: tuple | None = None
        self.ecg: str | None = None
        self.ef: int | None = None
        self.unit: str | None = None  # where the patient was admitted (icu / ward)
        self.dispo: str | None = None  # where the patient was discharged to (home / rehab)
        self.cause: dict[str, str] = {}
        self.plan: dict[str, bool] = {}
        self.status: dict[str, bool] = {}
        self.procs: list[str] = []
        self.living: str | None = None
        self.job: str | None = None
        self.culture: tuple | None = None
        self.course: tuple | None = None

    def add_cond(self, key: str, present: bool = True) -> None:
        self.conds[key] = present
        if present:
            for implied in _COND_IMPLIES.get(key, ()):
                self.conds[implied] = True

    def add_meds(self, keys: list[str], home: bool) -> None:
        for key in keys:
            self.meds.append(key)
            if home:
                self.home.append(key)
            self.suggested.extend(_DRUG_SUGGESTS.get(key, ()))


@functools.lru_cache(maxsize=None)
def _tok(text: str) -> str:
    """Penn-style tokenisation of the few contractions used in hypotheses and premises."""
    return re.sub(r"(\w)'s\b", r"\1 's", text)


def _fmt(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


def _set_value(possible: tuple | None, true_set: tuple):
    """Truth of "value in true_set" given the possible values (None: unknown)."""
    if possible is None:
        return None
    if all(p in true_set for p in possible):
        return True
    if not any(p in true_set for p in possible):
        return False
    return None


# ----------------------------------------------------------------------------- hypothesis families
def _h_sex(f: _Facts, rng: random.Random) -> list:
    opts = [("The patient is male .", "m"), ("The patient is a man .", "m"), ("The patient is female .", "f"),
            ("The patient is a woman .", "f"), ("The patient is not a woman .", "m"),
            ("The patient is not male .", "f")]
    return [(t, None if f.sex is None else f.sex == v) for t, v in opts]


def _h_age(f: _Facts, rng: random.Random) -> list:
    a = f.age
    if a is None:
        thresholds = [rng.choice([30, 40, 50, 60, 65, 70, 75, 80])]
    else:
        thresholds = [max(20, 5 * round((a - rng.randint(4, 15)) / 5)), 5 * round((a + rng.randint(4, 15)) / 5)]
    out = []
    for t in thresholds:
        if a is not None and t == a:
            continue
        out.append((f"The patient is over {t} years old .", None if a is None else a > t))
        out.append((f"The patient is younger than {t} .", None if a is None else a < t))

    def band(true_if, false_if):
        if a is None:
            return None
        return True if true_if(a) else (False if false_if(a) else _AMBIG)

    out += [("The patient is elderly .", band(lambda x: x >= 70, lambda x: x <= 55)),
            ("The patient is not elderly .", band(lambda x: x <= 55, lambda x: x >= 70)),
            ("The patient is a young adult .", band(lambda x: x <= 30, lambda x: x >= 40)),
            ("The patient is middle-aged .", band(lambda x: 45 <= x <= 60, lambda x: x <= 35 or x >= 70))]
    return out


def _h_smoking(f: _Facts, rng: random.Random) -> list:
    opts = [("The patient smokes .", ("current",)), ("The patient is a current smoker .", ("current",)),
            ("The patient has never smoked .", ("never",)), ("The patient does not smoke .", ("former", "never")),
            ("The patient has a history of tobacco use .", ("current", "former")),
            ("The patient quit smoking .", ("former",)), ("The patient uses tobacco .", ("current",))]
    return [(t, _set_value(f.smoking, s)) for t, s in opts]


def _h_alcohol(f: _Facts, rng: random.Random) -> list:
    opts = [("The patient drinks alcohol .", ("heavy", "moderate")),
            ("The patient does not drink alcohol .", ("none",)),
            ("The patient drinks heavily .", ("heavy",)), ("The patient abstains from alcohol .", ("none",)),
            ("The patient drinks only occasionally .", ("moderate",))]
    return [(t, _set_value(f.alcohol, s)) for t, s in opts]


def _cond_status(f: _Facts, key: str) -> str:
    """T (present), F (absent), A (ambiguous) or U (unknown) for one condition."""
    known = f.conds.get(key)
    if known is not None:
        return "T" if known else "F"
    if key in f.suggested:
        return "A"
    if _CHRONIC[key]:
        return "F" if f.cond_complete else "U"
    return "A" if f.dx is not None else "U"  # "A": another acute problem than the one described


def _cond_value(f: _Facts, keys: tuple):
    states = {_cond_status(f, k) for k in keys}
    if "T" in states:
        return True
    if states == {"F"}:
        return False
    return None if "U" in states else _AMBIG


def _neg(value):
    return (not value) if isinstance(value, bool) else value


def _h_cond(f: _Facts, rng: random.Random, keys: list[str]) -> list:
    related = [_COND_PHRASES[i] for i in sorted({i for k in keys for i in _PHRASES_BY_COND.get(k, ())})]
    others = rng.sample(_COND_PHRASES, 3)
    out = []
    for phrase, members, form in related + others:
        value = _cond_value(f, members)
        if form == "had":
            out += [(f"The patient has had {phrase} .", value), (f"The patient has never had {phrase} .", _neg(value))]
        elif form != "hxonly":
            out += [(f"The patient has {phrase} .", value), (f"The patient does not have {phrase} .", _neg(value))]
        chronic = tuple(k for k in members if _CONDS[k][1])
        if form in ("hx", "had", "hxonly") and chronic:
            acute_now = any(f.conds.get(k) and not _CONDS[k][1] for k in members)
            hx = _AMBIG if acute_now else _cond_value(f, chronic)
            out += [(f"The patient has a history of {phrase} .", hx),
                    (f"The patient has no history of {phrase} .", _neg(hx))]
    return out


def _h_admit(f: _Facts, rng: random.Random) -> list:
    if f.dx is None or not f.dx_reason:
        return []
    out = []
    for phrase, members, _form in _COND_PHRASES:
        acute = [k for k in members if not _CONDS[k][1] or k == f.dx]
        if not acute:
            continue
        if f.dx in members:
            value = True
        elif any(f.conds.get(k) or k in f.suggested for k in members):
            value = _AMBIG
        else:
            value = False
        verb = rng.choice(["was admitted with", "was admitted for", "presented with"])
        out.append((f"The patient {verb} {phrase} .", value))
    return out


def _active_classes(f: _Facts, keys: list[str]) -> list[str]:
    return [c for k in keys for c in _NLI_DRUGS[k]]


def _h_meds(f: _Facts, rng: random.Random, classes: list[str]) -> list:
    active = [k for k in f.meds if k not in f.stopped]
    act_classes = _active_classes(f, active)
    stopped_classes = _active_classes(f, f.stopped)
    related = [p for p in _MED_PHRASES if any(c in classes for c in p[2])]
    out = []
    for pos, neg, cls in related + rng.sample(_MED_PHRASES, 3):
        if any(c in act_classes for c in cls):
            value = True
        elif f.home_complete and not [k for k in f.meds if k not in f.home]:
            value = False
        elif any(c in stopped_classes for c in cls):
            value = False
        else:
            value = None
        verb = rng.choice(["is on", "is taking", "is receiving"])
        out += [(f"The patient {verb} {pos} .", value), (f"The patient is not taking {neg} .", _neg(value))]
    for key in active[:2] + f.stopped[:1]:
        name = key.replace("_", " ")
        value = key in active
        out += [(f"The patient is on {name} .", value), (f"The patient is not taking {name} .", _neg(value))]
    return out


def _h_home(f: _Facts, rng: random.Random) -> list:
    if f.home:
        value = False
    elif f.home_complete:
        value = True
    else:
        value = None
    many = True if len(f.home) >= 3 else (False if f.home_complete else None)
    return [("The patient takes no regular medications .", value),
            ("The patient does not take any medications at home .", value),
            ("The patient takes several medications at home .", many)]


def _h_allergy(f: _Facts, rng: random.Random) -> list:
    has_any = True if f.allergies else (False if f.nkda else None)
    out = [("The patient has a drug allergy .", has_any), ("The patient has no known drug allergies .", _neg(has_any))]
    for key in list(dict.fromkeys(f.allergies + rng.sample(sorted(_ALLERGENS), 2))):
        value = True if key in f.allergies else (False if f.nkda else None)
        out.append((f"The patient is allergic to {rng.choice(_ALLERGENS[key][1])} .", value))
    ana = True if f.reaction == "anaphylaxis" else (False if f.nkda else None)
    out.append(("The patient has had anaphylaxis to a medication .", ana))
    if "penicillin" in f.allergies:
        out += [("The patient should not receive amoxicillin .", True),
                ("The patient can safely receive amoxicillin .", False)]
    return out


def _nice_threshold(rng: random.Random, v: float, above: bool, decimals: int) -> float:
    """A round threshold below (above=True) or above the value."""
    factor = rng.uniform(0.55, 0.85) if above else rng.uniform(1.2, 1.7)
    t = v * factor
    if t >= 100:
        t = float(f"{t:.2g}")
    elif t >= 10:
        t = round(t)
    elif decimals >= 2:
        t = round(t, 2)
    else:
        t = round(t, 1)
    return t


def _h_lab(f: _Facts, rng: random.Random, lab: str) -> list:
    names, hyp, unit, lo, hi, ranges, dec = _LABS[lab]
    v = f.labs.get(lab)
    the = rng.choice([f"The {hyp}", f"The patient 's {hyp}"])
    known = v is not None

    def val(true_if, false_if=None):
        if not known:
            return None
        if true_if(v):
            return True
        return False if false_if is None or false_if(v) else _AMBIG

    out = [(f"{the} is elevated .", val(lambda x: x > hi)), (f"{the} is high .", val(lambda x: x > hi)),
           (f"{the} is not elevated .", val(lambda x: x <= hi)), (f"{the} is within normal limits .",
                                                                    val(lambda x: lo <= x <= hi))]
    if "low" in ranges:
        out.append((f"{the} is low .", val(lambda x: x < lo)))
    ref = v if known else rng.uniform(*rng.choice(list(ranges.values())))
    t_above = _nice_threshold(rng, ref, True, dec)
    t_below = _nice_threshold(rng, ref, False, dec)
    unit_s = f" {unit}" if unit else ""
    for t in (t_above, t_below):
        if known and t == v:
            continue
        out.append((f"{the} was above {_fmt(t, dec)}{unit_s} .", val(lambda x, t=t: x > t)))
        out.append((f"{the} was below {_fmt(t, dec)}{unit_s} .", val(lambda x, t=t: x < t)))
    if known:
        other = rng.uniform(*rng.choice([r for k, r in ranges.items()]))
        exact = rng.choice([v, other])
        if _fmt(exact, dec) != _fmt(v, dec) or exact == v:
            out.append((f"{the} was {_fmt(exact, dec)}{unit_s} .", _fmt(exact, dec) == _fmt(v, dec)))
    for text, true_if, false_if in _LAB_MEANING.get(lab, []):
        out.append((text, val(true_if, false_if)))
    return out


def _h_trend(f: _Facts, rng: random.Random, lab: str) -> list:
    trend = f.trend.get(lab)
    hyp = _LABS[lab][1]
    up = None if trend is None else trend == "up"
    out = [(f"The {hyp} is rising .", up), (f"The {hyp} is falling .", _neg(up)),
           (f"The {hyp} has not changed .", None if trend is None else False)]
    if lab == "creatinine":
        out += [("The patient 's kidney function is getting worse .", up),
                ("The patient 's kidney function is improving .", _neg(up))]
    return out


_VITAL_HYPS = [
    ("temp", "The patient was febrile .", lambda v: v >= 38.0, lambda v: v < 37.5),
    ("temp", "The patient had a fever .", lambda v: v >= 38.0, lambda v: v < 37.5),
    ("temp", "The patient was afebrile .", lambda v: v < 37.5, lambda v: v >= 38.0),
    ("temp", "The patient did not have a fever .", lambda v: v < 37.5, lambda v: v >= 38.0),
    ("hr", "The patient was tachycardic .", lambda v: v > 100, lambda v: v <= 100),
    ("hr", "The patient 's heart rate was normal .", lambda v: 60 <= v <= 100, lambda v: v < 55 or v > 105),
    ("hr", "The patient was bradycardic .", lambda v: v < 60, lambda v: v >= 60),
    ("sbp", "The patient was hypotensive .", lambda v: v < 90, lambda v: v >= 100),
    ("sbp", "The patient 's blood pressure was low .", lambda v: v < 90, lambda v: v >= 100),
    ("sbp", "The patient 's blood pressure was elevated .", lambda v: v >= 150, lambda v: v < 135),
    ("sbp", "The patient 's blood pressure was normal .", lambda v: 100 <= v < 135, lambda v: v < 90 or v >= 150),
    ("spo2", "The patient was hypoxic .", lambda v: v < 90, lambda v: v >= 95),
    ("spo2", "The patient 's oxygen saturation was normal .", lambda v: v >= 95, lambda v: v < 90),
    ("rr", "The patient was breathing rapidly .", lambda v: v > 22, lambda v: v <= 18),
]


def _h_vitals(f: _Facts, rng: random.Random, which: list[str]) -> list:
    out = []
    for key, text, true_if, false_if in _VITAL_HYPS:
        if key not in which:
            continue
        v = f.vitals.get(key)
        if v is None:
            out.append((text, None))
        else:
            out.append((text, True if true_if(v) else (False if false_if(v) else _AMBIG)))
    hr = f.vitals.get("hr")
    if "hr" in which:
        t = rng.choice([90, 100, 110, 120])
        value = None if hr is None else (hr > t if hr != t else _AMBIG)
        out.append((f"The patient 's heart rate was over {t} .", value))
    return out


def _h_symptom(f: _Facts, rng: random.Random, keys: list[str]) -> list:
    out = []
    for key in keys:
        _p, pos, neg, _pain = _SYMPTOMS[key]
        value = f.symptoms.get(key)
        if value is None and f.asymptomatic:
            value = False
        out += [(rng.choice(pos), value), (rng.choice(neg), _neg(value))]
    pain = [k for k, v in f.symptoms.items() if v and _SYMPTOMS[k][3]]
    in_pain = True if pain else (False if f.asymptomatic else None)
    out += [("The patient is in pain .", in_pain), ("The patient is pain-free .", _neg(in_pain))]
    asym = True if f.asymptomatic else (False if any(f.symptoms.values()) else None)
    out.append(("The patient is asymptomatic .", asym))
    d = f.sym_days
    if d is None:
        t = rng.choice([1, 2, 3, 5, 7, 10])
    else:
        t = rng.choice([max(1, d - rng.randint(1, 3)), d + rng.randint(1, 4)])
    out += [(f"The symptoms started more than {t} days ago .", None if d is None else (d > t if d != t else _AMBIG)),
            (f"The symptoms began less than {t} days ago .", None if d is None else (d < t if d != t else _AMBIG)),
            ("The symptoms have lasted more than a week .", None if d is None else (d > 7 if d != 7 else _AMBIG))]
    return out


def _h_family(f: _Facts, rng: random.Random, cond_keys: list[str]) -> list:
    cats = [c for c in _FAMILY_CATS if any(k in cond_keys for k in c[2])] + rng.sample(_FAMILY_CATS, 2)
    out = []
    for phrase, had_phrase, members in cats:
        negated = all(m in f.family_neg for m in members)
        value = True if any(c in members for _r, c in f.family) else (False if negated else None)
        out += [(f"The patient has a family history of {phrase} .", value),
                (f"There is no family history of {phrase} .", _neg(value))]
        rel = rng.choice([r for r, _c in f.family] or _RELATIVES)
        if phrase == "breast cancer" and rel in ("father", "brother"):
            rel = {"father": "mother", "brother": "sister"}[rel]
        rel_value = True if any(r == rel and c in members for r, c in f.family) else (False if negated else None)
        out.append((f"The patient 's {rel} had {had_phrase} .", rel_value))
    for rel in list(dict.fromkeys([r for r in f.deceased] + [rng.choice(_RELATIVES)])):
        dead = f.deceased.get(rel)
        out += [(f"The patient 's {rel} is still alive .", _neg(dead)), (f"The patient 's {rel} has died .", dead)]
    return out


def _h_cxr(f: _Facts, rng: random.Random) -> list:
    finding, side = f.cxr if f.cxr else (None, None)
    known = finding is not None

    def v(true_keys, false_keys=("clear",)):
        if not known:
            return None
        return True if finding in true_keys else (False if finding in false_keys else None)

    out = [("The chest X-ray was normal .", None if not known else finding == "clear"),
           ("The chest X-ray showed an abnormality .", None if not known else finding != "clear"),
           ("There is fluid around the lung .", v(("effusion",))),
           ("The patient has a collapsed lung .", v(("pneumothorax",))),
           ("There is a mass in the lung .", v(("mass",))),
           ("There is fluid in the lungs .", _AMBIG if finding == "consolidation" else v(("oedema",)))]
    for s in ("left", "right"):
        if finding in ("clear", "oedema") or not known:
            val = None if not known else _AMBIG
        else:
            val = side == s
        out.append((f"The abnormality is in the {s} lung .", val))
    if finding == "mass":
        out += [("The lung mass is cancerous .", None), ("The lung mass is benign .", None)]
    if finding == "effusion":
        out.append(("The effusion is caused by heart failure .", None))
    return out


def _h_cthead(f: _Facts, rng: random.Random) -> list:
    finding, side = f.cthead if f.cthead else (None, None)
    if finding is None:
        return [("There is bleeding in the brain .", None), ("The head CT was normal .", None)]
    out = [("There is bleeding in the brain .", finding == "ich"), ("The head CT was normal .", finding == "normal"),
           ("The CT shows a stroke .", finding != "normal"),
           ("The patient had an ischaemic stroke .", {"infarct": True, "ich": False}.get(finding, _AMBIG))]
    if finding != "normal":
        other = "left" if side == "right" else "right"
        out += [(f"The abnormality is on the {side} side of the brain .", True),
                (f"The abnormality is on the {other} side of the brain .", False)]
    if finding == "ich":
        out.append(("The bleeding was caused by a fall .", None))
    return out


def _h_ecg(f: _Facts, rng: random.Random) -> list:
    e = f.ecg
    if e is None:
        return [("The ECG was normal .", None), ("The patient is in atrial fibrillation .", None)]

    def v(true_keys, false_keys):
        return True if e in true_keys else (False if e in false_keys else None)

    return [("The ECG was normal .", e == "nsr"),
            ("The patient 's heart rhythm is irregular .", v(("afib",), ("nsr", "stach"))),
            ("The patient is in atrial fibrillation .", v(("afib",), ("nsr", "stach"))),
            ("The patient is in sinus rhythm .", v(("nsr", "stach"), ("afib",))),
            ("The ECG shows signs of an acute heart attack .", v(("stemi",), ("nsr",))),
            ("The ECG shows ischaemic changes .", v(("stemi", "twi"), ("nsr",))),
            ("The heart rate on the ECG was over 100 .", v(("afib", "stach"), ("nsr",))),
            ("The QT interval is prolonged .", v(("longqt",), ("nsr",)))]


def _h_ef(f: _Facts, rng: random.Random) -> list:
    ef = f.ef
    t = rng.choice([35, 40, 45, 50, 55])

    def band(x_true, x_false):
        if ef is None:
            return None
        return True if x_true(ef) else (False if x_false(ef) else _AMBIG)

    return [("The patient 's heart is pumping normally .", band(lambda x: x >= 55, lambda x: x <= 40)),
            ("The patient has a reduced ejection fraction .", band(lambda x: x <= 40, lambda x: x >= 55)),
            (f"The ejection fraction is above {t} % .", None if ef is None else (ef > t if ef != t else _AMBIG))]


def _h_dispo(f: _Facts, rng: random.Random) -> list:
    unit, dispo = f.unit, f.dispo

    def v(known, value, true_set, false_set):
        if known is None:
            return None
        return True if value in true_set else (False if value in false_set else _AMBIG)

    admitted = unit is not None
    return [("The patient was admitted to the intensive care unit .", v(unit, unit, ("icu",), ("ward",))),
            ("The patient did not need intensive care .", v(unit, unit, ("ward",), ("icu",))),
            ("The patient was admitted to hospital .", True if admitted or dispo == "rehab" else None),
            ("The patient was discharged home .", _AMBIG if admitted else v(dispo, dispo, ("home",), ("rehab",))),
            ("The patient went to a rehabilitation facility .",
             _AMBIG if admitted else v(dispo, dispo, ("rehab",), ("home",))),
            ("The patient needs ongoing care after leaving hospital .",
             _AMBIG if admitted else v(dispo, dispo, ("rehab",), ()))]


def _h_cause(f: _Facts, rng: random.Random, target: str) -> list:
    nouns, causes = _CAUSES[target]
    noun = rng.choice(nouns)
    known = f.cause.get(target)
    out = []
    for key, _premise, hyp, _implied in rng.sample(causes, min(3, len(causes))):
        value = None if known is None else known == key
        form = rng.choice(["{n} was caused by {h} .", "{n} is due to {h} .", "{n} was not caused by {h} ."])
        out.append((form.format(n=noun, h=hyp), _neg(value) if " not " in form else value))
    return out


def _h_plan(f: _Facts, rng: random.Random, keys: list[str]) -> list:
    out = []
    for key in keys:
        _premise, _noun, pos, neg = _PLANS[key]
        value = f.plan.get(key)
        out += [(rng.choice(pos), value), (rng.choice(neg), _neg(value))]
    return out


def _h_status(f: _Facts, rng: random.Random, keys: list[str]) -> list:
    out = []
    if "vent" in keys:
        v = f.status.get("vent")
        out += [("The patient is on a ventilator .", v), ("The patient is breathing without assistance .", _neg(v)),
                ("The patient required intubation .", v)]
    if "o2" in keys:
        v = f.status.get("o2")
        if v is None and f.status.get("vent"):
            v = _AMBIG  # a ventilated patient receives oxygen, but the premise does not say so
        out += [("The patient required supplemental oxygen .", v), ("The patient is on room air .", _neg(v))]
    if "dialysis" in keys:
        v = f.status.get("dialysis")
        out += [("The patient receives dialysis .", v), ("The patient is not on dialysis .", _neg(v))]
    if "pregnant" in keys:
        v = f.status.get("pregnant")
        if v is None and (f.sex == "m" or (f.sex == "f" and f.age is not None and f.age >= 55)):
            v = False
        out += [("The patient is pregnant .", v), ("The patient is not pregnant .", _neg(v))]
    return out


def _h_procs(f: _Facts, rng: random.Random) -> list:
    surgical = [p for p in f.procs if _PROCS[p][2]]
    had = True if surgical else (_AMBIG if f.procs else None)
    heart = True if "cabg" in f.procs else (_AMBIG if "pci" in f.procs else None)
    return [("The patient has had surgery in the past .", had), ("The patient has never had surgery .", _neg(had)),
            ("The patient has had heart surgery .", heart),
            ("The patient has had a coronary stent placed .", True if "pci" in f.procs else None),
            ("The patient 's gallbladder has been removed .", True if "chole" in f.procs else None),
            ("The patient has a transplanted kidney .", True if "kidney_tx" in f.procs else None)]


def _h_social(f: _Facts, rng: random.Random) -> list:
    liv, job = f.living, f.job

    def v(value, true_set, false_set):
        if value is None:
            return None
        return True if value in true_set else (False if value in false_set else _AMBIG)

    return [("The patient lives alone .", v(liv, ("alone",), ("spouse", "nursing"))),
            ("The patient lives with family .", v(liv, ("spouse",), ("alone", "nursing"))),
            ("The patient lives in a nursing home .", v(liv, ("nursing",), ("alone", "spouse"))),
            ("The patient lives independently .", v(liv, ("alone", "spouse"), ("nursing",))),
            ("The patient is retired .", v(job, ("retired",), ("teacher", "nurse", "construction"))),
            ("The patient is currently working .", v(job, ("teacher", "nurse", "construction"),
                                                    ("retired", "unemployed"))),
            ("The patient works in healthcare .", v(job, ("nurse",), ("teacher", "construction")))]


def _h_course(f: _Facts, rng: random.Random) -> list:
    if f.course is None:
        return []
    drug, days = f.course
    cls = {"abx": "antibiotics", "anticoag": "anticoagulation", "steroid": "steroids"}.get(_NLI_DRUGS[drug][0],
                                                                                           "the medication")
    other = rng.choice([d for d in (3, 5, 7, 10, 14, 21) if d != days])
    n = rng.choice([days, other])
    return [(f"The patient will take {cls} for {n} days .", n == days),
            (f"The course of {cls} lasts more than a week .", days > 7 if days != 7 else _AMBIG),
            (f"The patient will take {cls} for less than two weeks .", days < 14)]


def _h_culture(f: _Facts, rng: random.Random) -> list:
    if f.culture is None:
        return [("The blood cultures were positive .", None), ("The blood cultures showed no growth .", None)]
    _org, gram = f.culture
    return [("The blood cultures were positive .", True), ("The blood cultures showed no growth .", False),
            ("The bacteria are gram-negative .", gram == "negative"),
            ("The bacteria are gram-positive .", gram == "positive"),
            ("The infection came from the urinary tract .", None)]


def _h_a1c(f: _Facts, rng: random.Random) -> list:
    v = f.labs.get("a1c")
    t = rng.choice([6.5, 7.0, 8.0, 9.0]) if v is None else rng.choice([round(v - rng.uniform(0.8, 2.5), 1),
                                                                       round(v + rng.uniform(0.8, 2.5), 1)])

    def band(x_true, x_false):
        if v is None:
            return None
        return True if x_true(v) else (False if x_false(v) else _AMBIG)

    return [("The patient 's diabetes is well controlled .", band(lambda x: x < 7.0, lambda x: x >= 8.0)),
            ("The patient 's diabetes is poorly controlled .", band(lambda x: x >= 8.0, lambda x: x < 7.0)),
            (f"The HbA1c was above {t} % .", None if v is None else (v > t if v != t else _AMBIG))]


# ----------------------------------------------------------------------------- premises
class _Who(dict):
    """How a premise refers to the patient; what a wording reveals (sex, age) is recorded when it is used."""

    def __init__(self, f: _Facts, words: dict[str, tuple[str, str | None, int | None]], sex: str):
        super().__init__({k: v[0] for k, v in words.items()})
        self.facts, self.reveals = f, {k: v[1:] for k, v in words.items()}
        self.sex = sex  # the patient's sex, whether or not the wording reveals it

    def __getitem__(self, key: str) -> str:
        sex, age = self.reveals[key]
        if sex is not None:
            self.facts.sex = sex
        if age is not None:
            self.facts.age = age
        return super().__getitem__(key)


def _who(rng: random.Random, f: _Facts, forms: str = "pattn") -> _Who:
    """Choose how the premise refers to the patient (p pronoun, a age and sex, t "the patient", n name, g age)."""
    form = rng.choice(forms)
    sex = rng.choice("mf")
    age = rng.randint(19, 92)
    noun, pron, poss = ("man", "He", "His") if sex == "m" else ("woman", "She", "Her")
    the = {"poss": ("The patient 's", None, None), "poss_l": ("the patient 's", None, None)}
    if form == "t":
        return _Who(f, {"s": ("The patient", None, None), **the}, sex)
    if form == "g":
        return _Who(f, {"s": (f"The {age}-year-old patient", None, age), **the}, sex)
    own = {"poss": (poss, sex, None), "poss_l": (poss.lower(), sex, None)}
    if form == "a":
        art = "An" if str(age).startswith(("8", "11", "18")) else "A"
        return _Who(f, {"s": (f"{art} {age}-year-old {noun}", sex, age), **own}, sex)
    if form == "n":
        name = f"{'Mr.' if sex == 'm' else 'Ms.'} {rng.choice(_SURNAMES_NLI)}"
        return _Who(f, {"s": (name, sex, None), "poss": (f"{name} 's", sex, None),
                        "poss_l": (poss.lower(), sex, None)}, sex)
    return _Who(f, {"s": (pron, sex, None), **own}, sex)


def _bare(name: str) -> str:
    """A noun phrase without its indefinite article ("a pulmonary embolism" -> "pulmonary embolism")."""
    return name.split(" ", 1)[1] if name.startswith(("a ", "an ")) else name


def _article(word: str) -> str:
    return "an" if word[0].lower() in "aeiou" else "a"


def _lab_value(rng: random.Random, lab: str, rname: str | None = None) -> tuple[float, str]:
    ranges = _LABS[lab][5]
    if rname is None:
        abnormal = [r for r in ranges if r != "normal"]
        rname = rng.choice(abnormal) if rng.random() < 0.6 else "normal"
    lo, hi = ranges[rname]
    dec = _LABS[lab][6]
    v = round(rng.uniform(lo, hi), dec)
    return (int(v) if dec == 0 else v), rname


def _lab_text(lab: str, v: float) -> str:
    unit = _LABS[lab][2]
    return f"{_fmt(v, _LABS[lab][6])}{' ' + unit if unit else ''}"


def _lab_fams(lab: str, rname: str) -> list:
    fams = [(_h_lab, (lab,), 4), (_h_lab, (_LAB_RELATED[lab][0],), 1), (_h_cond, (_LAB_CONDS[lab],), 2),
            (_h_plan, (_LAB_PLANS[lab],), 1)]
    target = _LAB_CAUSE_TARGET.get((lab, rname))
    if target:
        fams.append((_h_cause, (target,), 2))
    return fams


def _generic_fams() -> list:
    return [(_h_sex, (), 0.45), (_h_age, (), 0.6), (_h_smoking, (), 0.3), (_h_cond, ([],), 0.5), (_h_allergy, (), 0.2),
            (_h_family, ([],), 0.2), (_h_home, (), 0.2)]


def _drug_keys(treatment: str) -> list[str]:
    return [d.replace("intravenous ", "").replace(" ", "_") for d in treatment.split(" and ")]


def _p_started(rng):
    f = _Facts()
    w = _who(rng, f)
    dx = rng.choice(sorted(_DX_TREATMENT))
    treatment = rng.choice(_DX_TREATMENT[dx])
    name = rng.choice(_CONDS[dx][0])
    if rng.random() < 0.5:
        text = f"{w['s']} was started on {treatment} for {name} ."
    else:
        text = f"{w['s']} was admitted with {name} and started on {treatment} ."
        f.dx_reason = True
    f.dx = dx
    f.add_cond(dx)
    drugs = _drug_keys(treatment)
    f.add_meds(drugs, home=False)
    classes = [c for d in drugs for c in _NLI_DRUGS[d]]
    fams = [(_h_cond, ([dx],), 3), (_h_admit, (), 2), (_h_meds, (classes,), 3), (_h_plan, (_DX_PLANS.get(dx, []),), 1)]
    if dx in _CAUSES:
        fams.append((_h_cause, (dx,), 2))
    return text, f, fams


def _p_present(rng):
    f = _Facts()
    w = _who(rng, f, "aag")
    pool = ["htn", "t2dm", "cad", "chf", "afib", "copd", "asthma", "ckd", "cirrhosis", "ra", "mdd", "epilepsy",
            "parkinsons", "stroke_hx", "dementia", "hypothyroid", "dvt_hx", "gout", "oa", "prior_mi", "lung_ca", "sle",
            "breast_ca" if w.sex == "f" else "prostate_ca"]
    hx = rng.sample(pool, rng.choice([1, 2]))
    syms = rng.sample(sorted(_SYMPTOMS), rng.choice([1, 1, 2]))
    days = rng.randint(1, 14)
    for k in hx:
        f.add_cond(k)
    for k in syms:
        f.symptoms[k] = True
    f.sym_days = days
    hx_text = " and ".join(rng.choice(_CONDS[k][0]) for k in hx)
    sym_text = " and ".join(rng.choice(_SYMPTOMS[k][0]) for k in syms)
    dur = f"{days} day{'s' if days > 1 else ''}"
    verb = rng.choice(["presents with", "presented with", "was admitted with"])
    text = f"{w['s']} with a history of {hx_text} {verb} {dur} of {sym_text} ."
    related = [r for k in syms for r in _SYMPTOM_RELATED[k][:2]]
    fams = [(_h_cond, (hx + [c for k in syms for c in _SYMPTOM_CONDS.get(k, [])],), 3),
            (_h_symptom, (syms + related,), 4), (_h_meds, ([],), 1)]
    return text, f, fams


def _p_lab(rng):
    f = _Facts()
    w = _who(rng, f)
    lab = rng.choice(sorted(_LABS))
    v, rname = _lab_value(rng, lab)
    f.labs[lab] = v
    name = rng.choice(_LABS[lab][0])
    form = rng.randrange(4)
    if form == 0:
        text = f"Labs were notable for {_article(name)} {name} of {_lab_text(lab, v)} ."
    elif form == 1:
        text = f"Admission labs were significant for {_article(name)} {name} of {_lab_text(lab, v)} ."
    elif form == 2:
        text = f"{w['poss']} {name} was {_lab_text(lab, v)} on admission ."
    else:
        text = f"On the day of admission , {w['poss_l']} {name} was {_lab_text(lab, v)} ."
    return text, f, _lab_fams(lab, rname)


def _p_two_labs(rng):
    f = _Facts()
    _who(rng, f, "t")
    lab1, lab2 = rng.sample(sorted(_LABS), 2)
    parts = []
    fams = []
    for lab in (lab1, lab2):
        v, rname = _lab_value(rng, lab)
        f.labs[lab] = v
        name = rng.choice(_LABS[lab][0])
        parts.append(f"{_article(name)} {name} of {_lab_text(lab, v)}")
        fams += _lab_fams(lab, rname)
    text = f"{rng.choice(['Laboratory studies showed', 'Initial labs revealed'])} {parts[0]} and {parts[1]} ."
    return text, f, fams


def _p_lab_cause(rng):
    f = _Facts()
    w = _who(rng, f)
    (lab, rname), target = rng.choice(sorted(_LAB_CAUSE_TARGET.items()))
    causes = [c for c in _CAUSES[target][1] if c[1]]
    key, premise, _hyp, implied = rng.choice(causes)
    v, _ = _lab_value(rng, lab, rname)
    f.labs[lab] = v
    f.cause[target] = key
    if implied:
        f.add_cond(implied)
    name = rng.choice(_LABS[lab][0])
    verb = "rose" if rname == "high" else "fell"
    if rng.random() < 0.5:
        text = f"{w['poss']} {name} {verb} to {_lab_text(lab, v)} after {premise} ."
    else:
        text = f"{w['poss']} {name} was {_lab_text(lab, v)} , which was attributed to {premise} ."
    return text, f, _lab_fams(lab, rname) + [(_h_cause, (target,), 3)]


def _p_dx_cause(rng):
    f = _Facts()
    w = _who(rng, f)
    dx = rng.choice([k for k in sorted(_CAUSES) if k in _CONDS])
    key, premise, _hyp, implied = rng.choice([c for c in _CAUSES[dx][1] if c[1]])
    f.dx = dx
    f.add_cond(dx)
    f.cause[dx] = key
    if implied:
        f.add_cond(implied)
    name = rng.choice(_CONDS[dx][0])
    form = rng.randrange(3)
    if form == 0:
        text = f"{w['s']} was admitted with {name} , which was attributed to {premise} ."
        f.dx_reason = True
    elif form == 1:
        text = f"{w['s']} developed {name} , thought to be secondary to {premise} ."
    else:
        text = f"The cause of {w['poss_l']} {_bare(name)} was felt to be {premise} ."
    fams = [(_h_cause, (dx,), 4), (_h_cond, ([dx] + ([implied] if implied else []),), 2), (_h_admit, (), 1),
            (_h_plan, (_DX_PLANS.get(dx, []),), 1)]
    return text, f, fams


def _p_vitals(rng):
    f = _Facts()
    _who(rng, f, "t")
    temp = round(rng.choice([rng.uniform(38.2, 40.1), rng.uniform(36.4, 37.2)]), 1)
    hr = rng.choice([rng.randint(104, 138), rng.randint(62, 94), rng.randint(38, 54)])
    sbp = rng.choice([rng.randint(72, 88), rng.randint(104, 132), rng.randint(156, 210)])
    dbp = int(sbp * rng.uniform(0.55, 0.68))
    parts = []
    which = []
    if rng.random() < 0.8:
        f.vitals["temp"] = temp
        parts.append(f"temperature was {temp} C")
        which.append("temp")
    f.vitals["hr"] = hr
    f.vitals["sbp"] = sbp
    parts += [f"heart rate was {hr}", f"blood pressure was {sbp}/{dbp}"]
    which += ["hr", "sbp"]
    text = f"On arrival , {' , '.join(parts[:-1])} and {parts[-1]}"
    if rng.random() < 0.5:
        spo2 = rng.choice([rng.randint(82, 89), rng.randint(95, 99)])
        f.vitals["spo2"] = spo2
        f.status["o2"] = False
        text += f" , with an oxygen saturation of {spo2} % on room air"
        which.append("spo2")
    text += " ."
    return text, f, [(_h_vitals, (which + ["spo2", "rr"],), 5), (_h_status, (["o2"],), 1),
                     (_h_cond, (["pneumonia", "uti"],), 1)]


_HOME_POOL = ["metformin", "lisinopril", "atorvastatin", "amlodipine", "metoprolol", "levothyroxine", "omeprazole",
              "apixaban", "warfarin", "aspirin", "sertraline", "furosemide", "allopurinol", "tamsulosin", "glipizide",
              "insulin_glargine", "losartan", "hydrochlorothiazide", "donepezil", "albuterol", "tiotropium",
              "lamotrigine", "levetiracetam", "carvedilol", "citalopram", "quetiapine", "lithium", "clopidogrel",
              "prednisone", "methotrexate", "carbidopa-levodopa", "paracetamol"]


def _med_fams(drugs: list[str]) -> list:
    classes = [c for d in drugs for c in _NLI_DRUGS[d]]
    conds = [c for d in drugs for c in _DRUG_SUGGESTS.get(d, ())]
    return [(_h_meds, (classes,), 4), (_h_home, (), 2), (_h_cond, (conds,), 1)]


def _p_home_meds(rng):
    f = _Facts()
    w = _who(rng, f)
    drugs = rng.sample(_HOME_POOL, rng.choice([2, 3, 3, 4]))
    f.add_meds(drugs, home=True)
    names = [d.replace("_", " ") for d in drugs]
    listed = " , ".join(names[:-1]) + f" and {names[-1]}"
    if rng.random() < 0.5:
        text = f"{w['poss']} home medications include {listed} ."
    else:
        text = f"{w['s']} takes {listed} at home ."
    return text, f, _med_fams(drugs)


def _p_no_meds(rng):
    f = _Facts()
    w = _who(rng, f)
    f.home_complete = True
    text = rng.choice([f"{w['s']} takes no medications at home .", f"{w['s']} is not on any regular medications .",
                       f"{w['s']} takes no prescription or over-the-counter medications ."])
    return text, f, _med_fams([]) + [(_h_meds, (["anticoag", "antihtn", "dm_med"],), 2)]


def _p_only_med(rng):
    f = _Facts()
    w = _who(rng, f)
    drug = rng.choice(_HOME_POOL)
    f.add_meds([drug], home=True)
    f.home_complete = True
    text = f"{w['poss']} only medication is {drug.replace('_', ' ')} ."
    return text, f, _med_fams([drug]) + [(_h_meds, (["anticoag", "antihtn", "statin", "antidep"],), 2)]


_SMOKE_TEXT = {"current": ["smokes one pack of cigarettes per day", "is an active smoker",
                           "smokes ten cigarettes a day"],
               "former": ["quit smoking {n} years ago", "is a former smoker"],
               "never": ["has never smoked", "is a lifelong non-smoker"]}
_ALCOHOL_TEXT = {"heavy": ["drinks six beers a day", "drinks a pint of vodka daily"],
                 "moderate": ["drinks alcohol socially", "drinks two glasses of wine per week"],
                 "none": ["does not drink alcohol", "abstains from alcohol"]}


def _p_social_habits(rng):
    f = _Facts()
    w = _who(rng, f)
    smoke = rng.choice(sorted(_SMOKE_TEXT))
    alcohol = rng.choice(sorted(_ALCOHOL_TEXT))
    f.smoking = (smoke,)
    f.alcohol = (alcohol,)
    s_text = rng.choice(_SMOKE_TEXT[smoke]).format(n=rng.randint(2, 30))
    text = f"{w['s']} {s_text} and {rng.choice(_ALCOHOL_TEXT[alcohol])} ."
    return text, f, [(_h_smoking, (), 4), (_h_alcohol, (), 3), (_h_cond, (["copd", "lung_ca", "cirrhosis"],), 1)]


def _p_pack_years(rng):
    f = _Facts()
    w = _who(rng, f)
    f.smoking = ("current", "former")
    text = f"{w['s']} has a {rng.choice([10, 15, 20, 30, 40, 50])} pack-year smoking history ."
    return text, f, [(_h_smoking, (), 5), (_h_cond, (["copd", "lung_ca"],), 1)]


def _relatives_for(cond: str) -> list[str]:
    return {"breast_ca": ["mother", "sister"], "prostate_ca": ["father", "brother"]}.get(cond, _RELATIVES)


def _p_family(rng):
    f = _Facts()
    w = _who(rng, f, "ppn")
    form = rng.randrange(4)
    if form == 0:
        cond = rng.choice(sorted(_FAMILY_CONDS))
        rel = rng.choice(_relatives_for(cond))
        f.family.append((rel, cond))
        f.deceased[rel] = True
        text = f"{w['poss']} {rel} died of {_FAMILY_CONDS[cond]} at age {rng.randint(45, 88)} ."
        keys = [cond]
    elif form == 1:
        cond = rng.choice(sorted(_FAMILY_CONDS))
        options = _relatives_for(cond)
        rels = rng.sample(options, min(len(options), rng.choice([1, 2])))
        f.family += [(r, cond) for r in rels]
        who = " and ".join(rels)
        text = f"Family history is significant for {_FAMILY_CONDS[cond]} in {w['poss_l']} {who} ."
        keys = [cond]
    elif form == 2:
        cats = rng.sample(_FAMILY_CATS[:2] + _FAMILY_CATS[4:], 2)
        for _p, _h, members in cats:
            f.family_neg += list(members)
        text = f"There is no family history of {cats[0][0]} or {cats[1][0]} ."
        keys = [m for c in cats for m in c[2]]
    else:
        rel = rng.choice(_RELATIVES)
        f.deceased[rel] = False
        text = f"{w['poss']} {rel} is alive and well at age {rng.randint(60, 90)} ."
        keys = []
    return text, f, [(_h_family, (keys,), 5), (_h_cond, (keys,), 1)]


def _p_cxr(rng):
    f = _Facts()
    _who(rng, f, "t")
    finding = rng.choice(sorted(_CXR))
    side = rng.choice(["left", "right"])
    f.cxr = (finding, side if finding not in ("clear", "oedema") else None)
    lead = rng.choice(["Chest X-ray showed", "A chest radiograph demonstrated", "Portable chest X-ray revealed"])
    text = f"{lead} {_CXR[finding].format(side=side)} ."
    fams = [(_h_cxr, (), 5)]
    if finding == "mass":
        fams.append((_h_plan, (["biopsy"],), 1))
        f.suggested.append("lung_ca")
        fams.append((_h_cond, (["lung_ca"],), 1))
    if finding == "consolidation":
        f.suggested.append("pneumonia")
    if finding == "oedema":
        f.suggested += ["chf", "chf_exac"]
    return text, f, fams


def _p_cthead(rng):
    f = _Facts()
    _who(rng, f, "t")
    finding = rng.choice(sorted(_CTHEAD))
    side = rng.choice(["left", "right"])
    f.cthead = (finding, side if finding != "normal" else None)
    if finding == "infarct":
        f.add_cond("stroke")
    elif finding == "ich":
        f.suggested += ["stroke", "stroke_hx"]
    text = f"{rng.choice(['CT of the head showed', 'A non-contrast head CT revealed'])}" \
           f" {_CTHEAD[finding].format(side=side)} ."
    return text, f, [(_h_cthead, (), 5), (_h_cond, (["stroke"],), 1), (_h_plan, (["physio", "surgery"],), 1)]


def _p_ecg(rng):
    f = _Facts()
    _who(rng, f, "t")
    e = rng.choice(sorted(_ECG))
    f.ecg = e
    if e == "afib":
        f.add_cond("afib")
    if e == "stemi":
        f.suggested += ["stemi", "cad"]
    text = f"{rng.choice(['ECG showed', 'An electrocardiogram demonstrated', 'The admission ECG showed'])} {_ECG[e]} ."
    return text, f, [(_h_ecg, (), 5), (_h_cond, (["afib", "stemi"],), 1), (_h_plan, (["cath"],), 1)]


def _p_echo(rng):
    f = _Facts()
    _who(rng, f, "t")
    ef = rng.choice([rng.randint(15, 35), rng.randint(55, 70)])
    f.ef = ef
    if ef < 40:
        f.suggested += ["chf", "chf_exac"]
    text = f"{rng.choice(['Echocardiogram showed', 'Transthoracic echocardiography revealed'])} an ejection fraction" \
           f" of {ef} % ."
    return text, f, [(_h_ef, (), 5), (_h_cond, (["chf"],), 1)]


def _p_allergy(rng):
    f = _Facts()
    w = _who(rng, f)
    if rng.random() < 0.3:
        f.nkda = True
        text = rng.choice([f"{w['s']} has no known drug allergies .",
                           f"{w['s']} reports no allergies to medications ."])
    else:
        key = rng.choice(sorted(_ALLERGENS))
        reaction = rng.choice(_REACTIONS)
        f.allergies.append(key)
        f.reaction = reaction
        allergen = rng.choice(_ALLERGENS[key][0])
        if rng.random() < 0.5:
            text = f"{w['s']} is allergic to {allergen} , which causes {reaction} ."
        else:
            text = f"{w['s']} reports an allergy to {allergen} ( {reaction} ) ."
    return text, f, [(_h_allergy, (), 5)]


_UNITS = [("intensive care unit", "icu"), ("medical ward", "ward")]
_CARDIAC_UNITS = [("cardiac care unit", "icu"), ("telemetry unit", "ward")]


def _p_admit_unit(rng):
    f = _Facts()
    w = _who(rng, f)
    dx = rng.choice(sorted(_DX_TREATMENT))
    unit, code = rng.choice(_UNITS + (_CARDIAC_UNITS if dx in ("stemi", "nstemi", "chf_exac", "afib") else []))
    f.unit = code
    f.dx, f.dx_reason = dx, True
    f.add_cond(dx)
    text = f"{w['s']} was admitted to the {unit} for {rng.choice(['', 'management of '])}{rng.choice(_CONDS[dx][0])} ."
    fams = [(_h_dispo, (), 4), (_h_admit, (), 3), (_h_cond, ([dx],), 2), (_h_status, (["vent"],), 1),
            (_h_plan, (_DX_PLANS.get(dx, []),), 1)]
    return text.replace("  ", " "), f, fams


def _p_discharged(rng):
    f = _Facts()
    w = _who(rng, f)
    drug = rng.choice(["amoxicillin", "ciprofloxacin", "nitrofurantoin", "azithromycin", "prednisone", "apixaban",
                       "rivaroxaban", "cefazolin"])
    days = rng.choice([3, 5, 7, 10, 14, 21])
    f.dispo = "home"
    f.add_meds([drug], home=False)
    f.course = (drug, days)
    text = f"{w['s']} was discharged home on {drug} for {days} days ."
    return text, f, [(_h_dispo, (), 3), (_h_course, (), 4), (_h_meds, (list(_NLI_DRUGS[drug]),), 2)]


def _p_discharged_rehab(rng):
    f = _Facts()
    w = _who(rng, f)
    dx = rng.choice(["stroke", "pneumonia", "stemi", "chf_exac", "dka", "pe", "cellulitis"])
    f.dispo = "rehab"
    f.dx = dx
    f.add_cond(dx)
    after = rng.choice(["treatment of", "recovery from"])
    text = f"{w['s']} was discharged to a rehabilitation facility after {after} {rng.choice(_CONDS[dx][0])} ."
    return text, f, [(_h_dispo, (), 4), (_h_cond, ([dx],), 2), (_h_plan, (["physio"],), 1)]


_HELD = [("warfarin", "inr", "high"), ("lisinopril", "potassium", "high"), ("spironolactone", "potassium", "high"),
         ("metformin", "creatinine", "high"), ("heparin", "platelets", "low"), ("metoprolol", "hr", "low")]


def _p_held(rng):
    f = _Facts()
    _who(rng, f, "t")
    drug, lab, rname = rng.choice(_HELD)
    f.add_meds([drug], home=drug != "heparin")
    f.stopped.append(drug)
    if lab == "hr":
        hr = rng.randint(38, 52)
        f.vitals["hr"] = hr
        reason = f"a heart rate of {hr}"
        fams = [(_h_vitals, (["hr"],), 2)]
    else:
        v, _ = _lab_value(rng, lab, rname)
        f.labs[lab] = v
        reason = f"{_article(_LABS[lab][0][0])} {_LABS[lab][0][0]} of {_lab_text(lab, v)}"
        fams = _lab_fams(lab, rname)
    verb = rng.choice(["was held", "was discontinued", "was stopped"])
    text = f"{drug.capitalize()} {verb} because of {reason} ."
    return text, f, fams + [(_h_meds, (list(_NLI_DRUGS[drug]),), 3)]


_RULED_OUT = [("CT angiography of the chest was negative for pulmonary embolism .", ["pe"]),
              ("Lower extremity ultrasound showed no evidence of deep vein thrombosis .", ["dvt"]),
              ("Serial troponins were negative , ruling out a myocardial infarction .", ["stemi", "nstemi"]),
              ("Lumbar puncture showed no evidence of meningitis .", ["meningitis"]),
              ("Abdominal ultrasound showed no evidence of cholecystitis .", ["cholecystitis"]),
              ("Urinalysis and urine culture were negative for infection .", ["uti", "pyelo"]),
              ("Blood cultures showed no growth after five days .", ["bacteraemia"])]


def _p_ruled_out(rng):
    f = _Facts()
    _who(rng, f, "t")
    text, keys = rng.choice(_RULED_OUT)
    for k in keys:
        f.add_cond(k, False)
    fams = [(_h_cond, (keys,), 5)]
    if "bacteraemia" in keys:
        f.culture = None
        fams.append((_h_status, (["o2"],), 0.5))
    return text, f, fams


def _p_denies(rng):
    f = _Facts()
    w = _who(rng, f)
    keys = rng.sample(sorted(_SYMPTOMS), 3)
    for k in keys:
        f.symptoms[k] = False
    names = [_SYMPTOMS[k][0][0] for k in keys]
    text = f"{w['s']} denies {names[0]} , {names[1]} or {names[2]} ."
    related = [r for k in keys for r in _SYMPTOM_RELATED[k][:1] if r not in keys]
    return text, f, [(_h_symptom, (keys + related,), 5)]


_TREATED = [("t2dm", ["metformin", "glipizide", "insulin_glargine"]), ("htn", ["lisinopril", "amlodipine", "losartan"]),
            ("hypothyroid", ["levothyroxine"]), ("epilepsy", ["levetiracetam", "lamotrigine"]),
            ("afib", ["apixaban", "warfarin"]), ("mdd", ["sertraline", "citalopram"]), ("bipolar", ["lithium"]),
            ("schizo", ["quetiapine", "haloperidol"]), ("ra", ["methotrexate", "prednisone"]),
            ("gout", ["allopurinol"]),
            ("parkinsons", ["carbidopa-levodopa"]), ("copd", ["tiotropium"]), ("asthma", ["albuterol"]),
            ("dementia", ["donepezil"]), ("cad", ["atorvastatin", "clopidogrel"]),
            ("chf", ["carvedilol", "furosemide"])]


def _p_hx_treated(rng):
    f = _Facts()
    w = _who(rng, f)
    cond, drugs = rng.choice(_TREATED)
    drug = rng.choice(drugs)
    f.add_cond(cond)
    f.add_meds([drug], home=True)
    text = f"{w['s']} was diagnosed with {rng.choice(_CONDS[cond][0])} {rng.randint(2, 25)} years ago and is treated" \
           f" with {drug.replace('_', ' ')} ."
    return text, f, [(_h_cond, ([cond],), 4)] + _med_fams([drug])


def _p_no_pmh(rng):
    f = _Facts()
    f.cond_complete = True
    if rng.random() < 0.5:
        w = _who(rng, f)
        text = rng.choice([f"{w['s']} has no significant past medical history .",
                           f"{w['s']} has no chronic medical conditions ."])
        syms = []
    else:
        sex, age = rng.choice("mf"), rng.randint(19, 60)
        f.sex, f.age = sex, age
        syms = [rng.choice(sorted(_SYMPTOMS))]
        f.symptoms[syms[0]] = True
        text = f"A previously healthy {age}-year-old {'man' if sex == 'm' else 'woman'} presented with" \
               f" {rng.choice(_SYMPTOMS[syms[0]][0])} ."
    keys = rng.sample(["htn", "t2dm", "cad", "copd", "ckd", "breast_ca", "mdd", "epilepsy", "afib", "asthma"], 3)
    return text, f, [(_h_cond, (keys,), 5), (_h_symptom, (syms,), 1)]


def _p_plan(rng):
    f = _Facts()
    w = _who(rng, f)
    if rng.random() < 0.6:
        dx, plan = rng.choice(_DX_PLAN_PREMISES)
        f.dx = dx
        f.add_cond(dx)
        name = rng.choice(_CONDS[dx][0])
        lead = f"For {name} ," if rng.random() < 0.5 else f"For {w['poss_l']} {_bare(name)} ,"
        fams = [(_h_cond, ([dx],), 1)]
    else:
        lab, plan = rng.choice(_LAB_PLAN_PREMISES)
        v, rname = _lab_value(rng, lab, next(r for r in _LABS[lab][5] if r != "normal"))
        f.labs[lab] = v
        name = _LABS[lab][0][0]
        lead = f"Given {_article(name)} {name} of {_lab_text(lab, v)} ," if rng.random() < 0.5 else \
            f"Given {w['poss_l']} {name} of {_lab_text(lab, v)} ,"
        fams = [(_h_lab, (lab,), 1)]
    f.plan[plan] = True
    when = rng.choice(["", " tomorrow", " later today", " this week"])
    text = f"{lead} the plan is to {_PLANS[plan][0]}{when} ."
    others = rng.sample([p for p in sorted(_PLANS) if p != plan], 2)
    return text, f, fams + [(_h_plan, ([plan],), 4), (_h_plan, (others,), 1)]


def _p_declined(rng):
    f = _Facts()
    w = _who(rng, f)
    plan = rng.choice([p for p in sorted(_PLANS) if _PLANS[p][1]])
    f.plan[plan] = False
    verb = rng.choice(["declined", "refused"])
    after = rng.choice(["", " after a discussion of the risks and benefits"])
    text = f"{w['s']} {verb} {_PLANS[plan][1]}{after} ."
    return text, f, [(_h_plan, ([plan],), 5)]


def _p_past_surgery(rng):
    f = _Facts()
    w = _who(rng, f)
    proc = rng.choice([p for p in sorted(_PROCS) if not (p == "mastectomy" and w.sex == "m")])
    name, cond, _surgical = _PROCS[proc]
    f.procs.append(proc)
    text = f"{w['s']} underwent {name} {rng.randint(2, 20)} years ago"
    if cond:
        f.add_cond(cond)
        text += f" for {rng.choice(_CONDS[cond][0])}"
    text += " ."
    return text, f, [(_h_procs, (), 4), (_h_cond, ([cond] if cond else [],), 2)]


def _p_oxygen(rng):
    f = _Facts()
    _who(rng, f, "t")
    s1, s2, litres = rng.randint(80, 89), rng.randint(93, 98), rng.randint(2, 6)
    f.vitals["spo2"] = s1
    f.status["o2"] = True
    text = f"Oxygen saturation was {s1} % on room air and improved to {s2} % on {litres} L nasal cannula ."
    return text, f, [(_h_vitals, (["spo2", "rr"],), 3), (_h_status, (["o2", "vent"],), 3),
                     (_h_cond, (["pneumonia", "copd"],), 1)]


def _p_intubated(rng):
    f = _Facts()
    w = _who(rng, f)
    f.status["vent"] = True
    reason = rng.choice(["hypoxic respiratory failure", "airway protection", "worsening respiratory distress"])
    text = f"{w['s']} was intubated in the emergency department for {reason} ."
    return text, f, [(_h_status, (["vent", "o2"],), 4), (_h_dispo, (), 1), (_h_cond, (["pneumonia", "copd"],), 1)]


def _p_cultures(rng):
    f = _Facts()
    _who(rng, f, "t")
    org, gram = rng.choice(_ORGANISMS)
    f.culture = (org, gram)
    f.add_cond("bacteraemia")
    text = f"{rng.choice(['Blood cultures grew', 'Two sets of blood cultures grew'])} {org} ."
    return text, f, [(_h_culture, (), 4), (_h_cond, (["bacteraemia", "pneumonia", "uti"],), 2),
                     (_h_meds, (["abx"],), 1)]


def _p_pregnant(rng):
    f = _Facts()
    age = rng.randint(19, 41)
    f.sex, f.age = "f", age
    f.status["pregnant"] = True
    sym = rng.choice(["headache", "abd_pain", "vomiting", "leg_swelling", "dyspnoea", "dizziness"])
    f.symptoms[sym] = True
    text = f"A {age}-year-old woman at {rng.randint(8, 38)} weeks of gestation presented with" \
           f" {rng.choice(_SYMPTOMS[sym][0])} ."
    return text, f, [(_h_status, (["pregnant"],), 3), (_h_symptom, ([sym] + _SYMPTOM_RELATED[sym][:1],), 2)]


_EXAM = [("bilateral lower extremity oedema", "leg_swelling"), ("scleral icterus and jaundice", "jaundice"),
         ("confusion and asterixis", "confusion"), ("a tender , swollen left knee", "joint_pain")]


def _p_exam(rng):
    f = _Facts()
    _who(rng, f, "t")
    finding, sym = rng.choice(_EXAM)
    f.symptoms[sym] = True
    text = f"{rng.choice(['Physical examination was notable for', 'On examination , there was'])} {finding} ."
    return text, f, [(_h_symptom, ([sym] + _SYMPTOM_RELATED[sym],), 4),
                     (_h_cond, (_SYMPTOM_CONDS.get(sym, []),), 1)]


_TRENDS = [("creatinine", "up"), ("creatinine", "down"), ("potassium", "up"), ("haemoglobin", "down"),
           ("platelets", "down"), ("troponin", "up"), ("sodium", "down"), ("bilirubin", "up")]


def _p_trend(rng):
    f = _Facts()
    w = _who(rng, f)
    lab, direction = rng.choice(_TRENDS)
    ranges = _LABS[lab][5]
    abnormal = next(r for r in ranges if r != "normal")
    v_ab, _ = _lab_value(rng, lab, abnormal)
    v_no, _ = _lab_value(rng, lab, "normal")
    start, end = (v_no, v_ab) if (direction == "up") == (abnormal == "high") else (v_ab, v_no)
    if (direction == "up") != (end > start):
        start, end = end, start
    f.labs[lab] = end
    f.trend[lab] = direction
    verb = "rose" if direction == "up" else "fell"
    start_text = _fmt(start, _LABS[lab][6])
    days = rng.randint(2, 5)
    text = f"{w['poss']} {_LABS[lab][0][0]} {verb} from {start_text} to {_lab_text(lab, end)} over {days} days ."
    rname = abnormal if end == v_ab else "normal"
    return text, f, [(_h_trend, (lab,), 4), (_h_lab, (lab,), 2), (_h_cond, (_LAB_CONDS[lab],), 1)] + \
        ([(_h_cause, (_LAB_CAUSE_TARGET[(lab, rname)],), 1)] if (lab, rname) in _LAB_CAUSE_TARGET else [])


def _p_weight_loss(rng):
    f = _Facts()
    w = _who(rng, f)
    f.symptoms["weight_loss"] = True
    text = f"{w['s']} reports an unintentional weight loss of {rng.randint(4, 15)} kg over {rng.randint(2, 8)} months ."
    return text, f, [(_h_symptom, (["weight_loss", "fatigue", "cough"],), 3), (_h_cond, (["colon_ca", "lung_ca"],), 2),
                     (_h_plan, (["colonoscopy", "biopsy"],), 1)]


_GIVEN = [("morphine", "chest_pain"), ("morphine", "abd_pain"), ("morphine", "back_pain"), ("albuterol", "dyspnoea"),
          ("paracetamol", "headache"), ("nitroglycerin", "chest_pain"), ("lorazepam", "confusion"),
          ("furosemide", "dyspnoea")]


def _p_given_ed(rng):
    f = _Facts()
    w = _who(rng, f)
    drug, sym = rng.choice(_GIVEN)
    f.add_meds([drug], home=False)
    f.symptoms[sym] = True
    text = f"{w['s']} was given {drug} in the emergency department for {rng.choice(_SYMPTOMS[sym][0])} ."
    return text, f, [(_h_meds, (list(_NLI_DRUGS[drug]),), 3), (_h_symptom, ([sym] + _SYMPTOM_RELATED[sym][:2],), 3)]


def _p_a1c(rng):
    f = _Facts()
    w = _who(rng, f)
    v = round(rng.choice([rng.uniform(8.5, 12.8), rng.uniform(5.8, 6.8)]), 1)
    drug = rng.choice(["metformin", "glipizide", "insulin_glargine"])
    f.labs["a1c"] = v
    f.add_cond("dm")
    f.add_meds([drug], home=True)
    on = "despite" if v > 8 and rng.random() < 0.6 else "on"
    text = f"{w['poss']} HbA1c was {v} % {on} {drug.replace('_', ' ')} ."
    return text, f, [(_h_a1c, (), 4), (_h_cond, (["dm"],), 1)] + _med_fams([drug])


def _p_inr(rng):
    f = _Facts()
    w = _who(rng, f)
    v = round(rng.choice([rng.uniform(2.0, 2.9), rng.uniform(4.2, 8.4)]), 1)
    f.labs["inr"] = v
    f.add_meds(["warfarin"], home=True)
    reason = rng.choice([("atrial fibrillation", "afib"), ("a mechanical mitral valve", None),
                         ("a prior deep vein thrombosis", "dvt_hx")])
    if reason[1]:
        f.add_cond(reason[1])
    text = f"{w['poss']} INR was {v} on warfarin for {reason[0]} ."
    return text, f, [(_h_lab, ("inr",), 4), (_h_meds, (["anticoag"],), 2),
                     (_h_cond, (["afib", "dvt_hx"],), 1)]


def _p_dialysis(rng):
    f = _Facts()
    w = _who(rng, f)
    f.add_cond("esrd")
    f.status["dialysis"] = True
    when = rng.choice(["three times a week", "on Mondays , Wednesdays and Fridays"])
    text = f"{w['s']} receives haemodialysis {when} for end-stage renal disease ."
    return text, f, [(_h_status, (["dialysis"],), 3), (_h_cond, (["esrd", "ckd"],), 3), (_h_lab, ("potassium",), 1)]


def _p_living(rng):
    f = _Facts()
    w = _who(rng, f, "ppn")
    living = rng.choice(sorted(_LIVING))
    job = "retired" if living == "nursing" else rng.choice(sorted(_JOBS))
    f.living, f.job = living, job
    spouse = "wife" if f.sex == "m" else "husband"
    text = f"{w['s']} {_LIVING[living].format(poss_l=w['poss_l'], spouse=spouse)} and {_JOBS[job]} ."
    return text, f, [(_h_social, (), 5)]


def _p_transfer(rng):
    f = _Facts()
    w = _who(rng, f)
    dx = rng.choice(sorted(_DX_TREATMENT))
    f.dx, f.dx_reason = dx, True
    f.add_cond(dx)
    text = f"{w['s']} was transferred from an outside hospital for management of {rng.choice(_CONDS[dx][0])} ."
    fams = [(_h_admit, (), 3), (_h_cond, ([dx],), 3), (_h_plan, (_DX_PLANS.get(dx, []),), 1)]
    if dx in _CAUSES:
        fams.append((_h_cause, (dx,), 1))
    return text, f, fams


_PREMISES: list[Callable] = [
    _p_started, _p_present, _p_lab, _p_two_labs, _p_lab_cause, _p_dx_cause, _p_vitals, _p_home_meds, _p_no_meds,
    _p_only_med, _p_social_habits, _p_pack_years, _p_family, _p_cxr, _p_cthead, _p_ecg, _p_echo, _p_allergy,
    _p_admit_unit, _p_discharged, _p_discharged_rehab, _p_held, _p_ruled_out, _p_denies, _p_hx_treated, _p_no_pmh,
    _p_plan, _p_declined, _p_past_surgery, _p_oxygen, _p_intubated, _p_cultures, _p_pregnant, _p_exam, _p_trend,
    _p_weight_loss, _p_given_ed, _p_a1c, _p_inr, _p_dialysis, _p_living, _p_transfer,
]


_NEGATION_WORDS = frozenset(("not", "no", "never", "denies", "without"))
_P_NEGATED = 0.3
_FAMILIES_PER_PAIR = 2


@functools.lru_cache(maxsize=None)
def _is_negated(text: str) -> bool:
    return not _NEGATION_WORDS.isdisjoint(text.split())


@functools.lru_cache(maxsize=None)
def _wording_key(text: str) -> str:
    """A hypothesis wording with its numbers masked."""
    return re.sub(r"[0-9.]+", "#", _tok(text))


def _weighted_index(rng: random.Random, weights: list[float]) -> int:
    """Index drawn with probability proportional to its weight."""
    r = rng.random() * sum(weights)
    for i, w in enumerate(weights):
        r -= w
        if r < 0:
            return i
    return len(weights) - 1


_LABEL_OF = {True: _ENTAIL, False: _CONTRA, None: _NEUTRAL}  # "?" (ambiguous) has no label


def _nli_split(rng: random.Random, size: int, used: set, usage: dict) -> dict[str, list]:
    labels = [_LABELS[i % 3] for i in range(size)]
    rng.shuffle(labels)
    rows: dict[str, list] = {"premise": [], "hypothesis": [], "label": []}
    for label in labels:
        while True:
            premise, facts, fams = rng.choice(_PREMISES)(rng)
            # Visit families in weighted random order and collect wordings of the wanted label from the first few.
            remaining = fams + _generic_fams()
            pools: list[list[str]] = []
            while remaining and len(pools) < _FAMILIES_PER_PAIR:
                fn, args, _w = remaining.pop(_weighted_index(rng, [x[2] for x in remaining]))
                cands = [t for t, v in fn(facts, rng, *args) if _LABEL_OF.get(v) == label]
                if cands:
                    pools.append(cands)
            if not pools:
                continue
            # Draw negated and affirmative wordings at the same rate for every label where the premise allows it
            # (looking further through the families for a negated wording if needed).
            want_neg = rng.random() < _P_NEGATED
            kept = [[t for t in pool if _is_negated(t) == want_neg] for pool in pools]
            while want_neg and not any(kept) and remaining:
                fn, args, _w = remaining.pop(_weighted_index(rng, [x[2] for x in remaining]))
                kept = [[t for t, v in fn(facts, rng, *args) if _LABEL_OF.get(v) == label and _is_negated(t)]]
            if any(kept):
                pools = [pool for pool in kept if pool]
            # Prefer wordings used less often with this label than with the others, so that no wording (and hence
            # no word) becomes a cue for one label.
            chosen, weights = [], []
            for rank, pool in enumerate(pools):
                for t in pool:
                    seen = usage.get(_wording_key(t))
                    excess = seen[label] - min(seen.values()) if seen else 0
                    chosen.append(t)
                    weights.append((0.5 ** rank) / len(pool) / (1 + excess) ** 2)
            hypothesis = _tok(rng.choices(chosen, weights)[0])
            premise = _tok(premise)
            core = hypothesis[len("The patient "):] if hypothesis.startswith("The patient ") else hypothesis
            if (premise, hypothesis) in used or core[:-2] in premise:  # unique, and not a verbatim copy
                continue
            used.add((premise, hypothesis))
            usage.setdefault(_wording_key(hypothesis), dict.fromkeys(_LABELS, 0))[label] += 1
            rows["premise"].append(premise)
            rows["hypothesis"].append(hypothesis)
            rows["label"].append(label)
            break
    return rows


def demo_nli(seed: int = 0) -> datasets.DatasetDict:
    """Generate the embedded clinical NLI demo corpus (MedNLI-style premise/hypothesis pairs).

    Each premise is a clinical statement generated together with the facts it establishes; each hypothesis is a
    statement whose truth is evaluated against those facts (true: entailment, false: contradiction, not determined:
    neutral). The same hypothesis wordings, negations included, therefore occur under all three labels.

    Args:
        seed: Seed for ``random.Random``; the same seed gives byte-identical output.

    Returns:
        A ``DatasetDict`` with splits ``train`` (2400), ``validation`` (300) and ``test`` (300), each with
        columns ``premise`` (str), ``hypothesis`` (str) and ``label`` (one of ``entailment``, ``neutral``,
        ``contradiction``), balanced by label; pairs are unique across splits.
    """
    rng = random.Random(seed)
    used: set[tuple[str, str]] = set()
    usage: dict[str, dict[str, int]] = {}
    features = datasets.Features({"premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
                                  "label": datasets.Value("string")})
    return datasets.DatasetDict({
        split: datasets.Dataset.from_dict(_nli_split(rng, size, used, usage), features=features)
        for split, size in _SPLITS
    })
